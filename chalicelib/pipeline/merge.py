"""Merging the Persons the identity graph ties together, and undoing a merge.

When one delivery's identities belong to two Persons (pipeline/identity.Resolution.ties),
the tie's confidence is its weakest link. At or above `identity.merge_threshold` the two
merge: the older Person survives; identities are re-pointed, interactions move (their items
live under the person's key), a sink record the survivor lacks is adopted, and the survivor
is rescored. Below the threshold, or between Persons an unmerge separated, or when the two
have different verified user ids on one provider, the tie is kept as a suggestion on both.

Every merge writes a MergeRecord (M#{id}) first and marks the merged Person
(`merged_into`) before moving anything, so an interrupted merge is finished by the next
delivery that meets it, and `unmerge(hub, merge_id)` can put everything back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import ChorusError
from ..hub import Hub
from ..schema import IdentityLink, Interaction, MergeRecord, MergeSuggestion, Person
from ..store.base import Store
from .decay import enqueue_sync
from .identity import Resolution, Tie, author_identities, current_owner, normalise_email
from .person_write import update_person
from .scoring import advocate_score, person_stats

log = logging.getLogger("chorus_hub.merge")
SUGGESTION_EVIDENCE_MAX = 10


class UnknownMerge(ChorusError):
    status = 404
    reason = "unknown_merge"


class CannotUnmerge(ChorusError):
    status = 409
    reason = "cannot_unmerge"


@dataclass
class Settlement:
    person_id: str
    merges: list[MergeRecord] = field(default_factory=list)
    suggestions: list[tuple[Tie, float, str]] = field(default_factory=list)


# ---- deciding ------------------------------------------------------------------------------
def settle_ties(hub: Hub, resolution: Resolution, interaction_id: str | None = None) -> Settlement:
    """Merge the strongly tied persons into one; keep the others as suggestions."""
    threshold = hub.settings.identity.merge_threshold
    settlement = Settlement(resolution.person_id)
    for tie in resolution.ties:
        confidence = round(min(resolution.strength, tie.confidence), 4)
        other = current_owner(hub.store, tie.person_id)
        if other == settlement.person_id:
            continue
        reason = (
            f"confidence {confidence} is below the merge threshold {threshold}"
            if confidence < threshold
            else _reason_to_keep_apart(hub, settlement.person_id, other)
        )
        if reason:
            settlement.suggestions.append((Tie(other, confidence, tie.evidence), confidence, reason))
            continue
        survivor, merged = _by_age(hub, settlement.person_id, other)
        evidence = [*resolution.owned[:SUGGESTION_EVIDENCE_MAX], *tie.evidence]
        record = merge_people(
            hub,
            survivor,
            merged,
            confidence=confidence,
            evidence=evidence,
            reason="a delivery's identities belong to both",
            interaction_id=interaction_id,
            merged_links=tie.evidence if merged == other else resolution.owned,
        )
        settlement.merges.append(record)
        settlement.person_id = survivor
    return settlement


def _reason_to_keep_apart(hub: Hub, a_id: str, b_id: str) -> str | None:
    a, b = hub.store.get_person(a_id), hub.store.get_person(b_id)
    if a is None or b is None:
        return None
    if b_id in a.kept_apart or a_id in b.kept_apart:
        return "kept apart by an earlier unmerge"
    verified_a = {
        link.namespace: link.value
        for link in a.links
        if link.evidence == "provider_verified" and not link.namespace.endswith("_handle")
    }
    for link in b.links:
        if link.evidence == "provider_verified" and verified_a.get(link.namespace, link.value) != link.value:
            return f"different verified {link.namespace} user ids"
    return None


def _by_age(hub: Hub, a_id: str, b_id: str) -> tuple[str, str]:
    """(survivor, merged): the older person survives; one not stored yet is the newest."""
    a, b = hub.store.get_person(a_id), hub.store.get_person(b_id)
    if a is None:
        return (b_id, a_id)
    if b is None:
        return (a_id, b_id)
    return (a_id, b_id) if (a.created_at, a_id) <= (b.created_at, b_id) else (b_id, a_id)


# ---- merging -------------------------------------------------------------------------------
def merge_people(
    hub: Hub,
    survivor_id: str,
    merged_id: str,
    *,
    confidence: float = 1.0,
    evidence: Sequence[IdentityLink] = (),
    reason: str = "merged by an admin",
    interaction_id: str | None = None,
    merged_links: Sequence[IdentityLink] = (),
) -> MergeRecord:
    """Merge `merged_id` into `survivor_id` and return the record (the existing one when
    someone merged it first). Example: merge_people(hub, "older-id", "newer-id")."""
    store, now = hub.store, hub.clock()
    if current_owner(store, survivor_id) == merged_id:
        raise CannotUnmerge(f"{survivor_id} was itself merged into {merged_id}")
    record = MergeRecord(
        merge_id=uuid.uuid4().hex,
        survivor_id=survivor_id,
        merged_id=merged_id,
        confidence=confidence,
        reason=reason,
        evidence=list(evidence),
        interaction_id=interaction_id,
        merged_at=now,
        moved_identities=list(merged_links),
    )
    store.put_merge(record)  # first, so an interrupted merge leaves a trail to finish it by

    def entomb(person: Person | None) -> Person | None:
        if person is not None and person.merged_into:
            return None  # merged already, by another merge
        tomb = person or Person(person_id=merged_id, created_at=now, updated_at=now)
        tomb.merged_into, tomb.updated_at = survivor_id, now
        tomb.merges.append(record.merge_id)
        return tomb

    person, tomb = update_person(store, merged_id, entomb)
    if tomb is None and person is not None:
        store.delete_merge(record.merge_id)
        existing = store.get_merge(person.merges[-1]) if person.merges else None
        if existing is not None and existing.status == "in_progress":
            return complete_merge(hub, existing)
        return existing or record
    log.info(
        "merging persons",
        extra={
            "merge_id": record.merge_id,
            "survivor_id": survivor_id,
            "merged_id": merged_id,
            "confidence": confidence,
        },
    )
    return complete_merge(hub, record)


def complete_merge(hub: Hub, record: MergeRecord) -> MergeRecord:
    """Do (or finish) everything a merge moves. Every step is idempotent."""
    store, survivor_id, merged_id = hub.store, record.survivor_id, record.merged_id
    merged = store.get_person(merged_id)
    links: dict[str, IdentityLink] = {link.key: link for link in record.moved_identities}
    if merged is not None:
        links.update({link.key: link for link in merged.links})
        for ref in merged.identities:  # claims made before links recorded evidence
            links.setdefault(
                ref.key,
                IdentityLink(
                    namespace=ref.namespace,
                    value=ref.value,
                    evidence="provider_verified",
                    confidence=1.0,
                    first_seen=merged.created_at,
                ),
            )
    for link in links.values():
        store.repoint_identity(link, merged_id, survivor_id)
    record.moved_identities = list(links.values())
    for interaction in store.person_interactions(merged_id):
        _move_interaction(store, interaction, merged_id, survivor_id)
        if interaction.interaction_id not in record.moved_interactions:
            record.moved_interactions.append(interaction.interaction_id)
    sinks = [c.id for c in hub.connectors.sinks()]
    states = store.get_sync_states([(p, c) for c in sinks for p in (survivor_id, merged_id)])
    for connector_id in sinks:
        theirs, ours = states.get((merged_id, connector_id)), states.get((survivor_id, connector_id))
        if theirs is not None and ours is None:  # adopt their CRM record rather than create a duplicate
            theirs.person_id = survivor_id
            store.put_sync_state(theirs)
            if connector_id not in record.copied_sync_states:
                record.copied_sync_states.append(connector_id)
        elif (
            theirs is not None
            and ours is not None
            and theirs.crm_id
            and ours.crm_id
            and theirs.crm_id != ours.crm_id
        ):
            record.crm_ids_not_kept[connector_id] = theirs.crm_id
    store.put_merge(record)

    def absorb(person: Person) -> None:
        if merged is not None:
            _absorb(person, merged, record)
        elif record.merge_id not in person.merges:
            person.merges.append(record.merge_id)
        _add_links(person, record.moved_identities)

    _rescore(hub, survivor_id, absorb)
    record.status = "done"
    store.put_merge(record)
    enqueue_sync(hub, survivor_id)
    return record


def _absorb(survivor: Person, merged: Person, record: MergeRecord) -> None:
    survivor.email = survivor.email or merged.email
    survivor.display_name = survivor.display_name or merged.display_name
    for provider, handle in merged.handles.items():
        survivor.handles.setdefault(provider, handle)
    kept = {s.person_id for s in survivor.suggestions}
    survivor.suggestions = [s for s in survivor.suggestions if s.person_id != merged.person_id] + [
        s for s in merged.suggestions if s.person_id not in kept and s.person_id != survivor.person_id
    ]
    survivor.kept_apart = sorted(set(survivor.kept_apart) | set(merged.kept_apart))
    if record.merge_id not in survivor.merges:
        survivor.merges.append(record.merge_id)
    if getattr(merged, "do_not_contact", False):  # an opt-out of either one holds for both
        survivor.do_not_contact = True


def _add_links(person: Person, links: list[IdentityLink]) -> None:
    known, known_refs = {link.key for link in person.links}, {ref.key for ref in person.identities}
    person.links += [link for link in links if link.key not in known]
    person.identities += [link.ref() for link in links if link.key not in known_refs]


def _move_interaction(store: Store, interaction: Interaction, from_person: str, to_person: str) -> None:
    """Move one of `from_person`'s stored interactions to `to_person`."""
    store.put_interaction(interaction.model_copy(update={"person_id": to_person}))
    store.delete_interaction(from_person, interaction.interaction_id)


def _rescore(hub: Hub, person_id: str, change: Callable[[Person], None]) -> Person:
    """Apply `change` to the person, recompute stats and score from the timeline, write."""
    store = hub.store

    def rescored(before: Person | None) -> Person:
        now = hub.clock()
        after = before or Person(person_id=person_id, created_at=now, updated_at=now)
        change(after)
        after.stats = person_stats(store.person_interactions(person_id))
        after.advocate = advocate_score(after.stats, hub.settings.scoring, now)
        after.updated_at = now
        return after

    _, after = update_person(store, person_id, rescored)
    assert after is not None  # rescored always writes
    return after


def redirect_if_merged(hub: Hub, person_id: str) -> str:
    """The person who owns `person_id`'s things now; moves any interaction that landed on a
    merged person after its merge (a delivery resolved just before the merge)."""
    survivor = current_owner(hub.store, person_id)
    if survivor != person_id:
        for interaction in hub.store.person_interactions(person_id):
            _move_interaction(hub.store, interaction, person_id, survivor)
    return survivor


# ---- undoing -------------------------------------------------------------------------------
def unmerge(hub: Hub, merge_id: str) -> MergeRecord:
    """Undo a merge: identities, interactions and adopted CRM records go back, both persons
    are rescored and synced, and the two are kept apart from then on (later ties between
    them become suggestions). Interactions that arrived after the merge go back too when all
    their author's identities were the merged person's. Idempotent.

    Raises UnknownMerge (404) or CannotUnmerge (409: the survivor was merged away since).
    Example: unmerge(hub, "3f2a...")."""
    store = hub.store
    record = store.get_merge(merge_id)
    if record is None:
        raise UnknownMerge(f"no merge {merge_id}")
    if record.status == "undone":
        return record
    if record.status == "in_progress":
        record = complete_merge(hub, record)
    survivor_id, merged_id = record.survivor_id, record.merged_id
    survivor = store.get_person(survivor_id)
    if survivor is not None and survivor.merged_into:
        raise CannotUnmerge(
            f"person {survivor_id} was merged into {survivor.merged_into} since; "
            f"undo merge {survivor.merges[-1] if survivor.merges else '?'} first"
        )
    moved_keys = {link.key for link in record.moved_identities}
    for link in record.moved_identities:
        store.repoint_identity(link, survivor_id, merged_id)
    staying = {ref.key for ref in (survivor.identities if survivor else []) if ref.key not in moved_keys}
    for interaction in store.person_interactions(survivor_id):
        keys = {ref.key for ref in author_identities(interaction, hub.settings.identity)}
        if interaction.interaction_id in record.moved_interactions or (
            keys & moved_keys and not keys & staying
        ):
            _move_interaction(store, interaction, survivor_id, merged_id)
    for connector_id in record.copied_sync_states:
        store.delete_sync_state(survivor_id, connector_id)

    def restore(person: Person) -> None:
        person.merged_into = None
        _add_links(person, record.moved_identities)
        person.kept_apart = sorted(set(person.kept_apart) | {survivor_id})

    def release(person: Person) -> None:
        person.links = [link for link in person.links if link.key not in moved_keys]
        person.identities = [ref for ref in person.identities if ref.key not in moved_keys]
        if person.email and f"email#{normalise_email(person.email)}" in moved_keys:
            person.email = None  # the links hold match keys only; the next delivery gives it as typed
        person.handles = {p: h for p, h in person.handles.items() if f"{p}_handle#{h}" not in moved_keys}
        person.suggestions = [s for s in person.suggestions if s.person_id != merged_id]
        person.kept_apart = sorted(set(person.kept_apart) | {merged_id})

    _rescore(hub, merged_id, restore)
    _rescore(hub, survivor_id, release)
    record.status, record.undone_at = "undone", hub.clock()
    store.put_merge(record)
    enqueue_sync(hub, survivor_id)
    enqueue_sync(hub, merged_id)
    log.info("merge undone", extra={"merge_id": merge_id})
    return record


# ---- suggestions ---------------------------------------------------------------------------
def note_suggestions(hub: Hub, settlement: Settlement, interaction_id: str | None = None) -> None:
    """List each weak tie on both persons (once per pair; later evidence is added to it)."""
    for tie, confidence, reason in settlement.suggestions:
        for this, other in ((settlement.person_id, tie.person_id), (tie.person_id, settlement.person_id)):
            _update(
                hub,
                this,
                lambda p: _suggest(p, other, confidence, reason, tie.evidence, interaction_id, hub.clock()),
            )


def _suggest(
    person: Person,
    other: str,
    confidence: float,
    reason: str,
    evidence: list[IdentityLink],
    interaction_id: str | None,
    now: datetime,
) -> bool:
    existing = next((s for s in person.suggestions if s.person_id == other), None)
    if existing is None:
        person.suggestions.append(
            MergeSuggestion(
                person_id=other,
                confidence=confidence,
                reason=reason,
                evidence=evidence[:SUGGESTION_EVIDENCE_MAX],
                interaction_id=interaction_id,
                first_seen=now,
                last_seen=now,
            )
        )
        return True
    known = {link.key for link in existing.evidence}
    existing.evidence += [link for link in evidence if link.key not in known]
    existing.evidence = existing.evidence[:SUGGESTION_EVIDENCE_MAX]
    existing.confidence, existing.reason, existing.last_seen = (
        max(existing.confidence, confidence),
        reason,
        now,
    )
    return True


def _update(hub: Hub, person_id: str, change: Callable[[Person], bool]) -> None:
    update_person(
        hub.store, person_id, lambda person: person if person is not None and change(person) else None
    )
