"""Privacy: export everything held about a person, erase it, and keep it erased.

What a person's data is, and where it lives (see the item list in store/dynamodb.py):
  - their partition P#{person}: profile, interactions, CRM sync states (CRM record ids and the
    values written), closed-loop actions and caps, and anything else later kept there;
  - identity pointers ID#{namespace}#{value} (email, handles, provider and CRM ids);
  - raw deliveries: a delivery too big for a queue message sits in the blob store (S3) and its
    interactions keep the pointer (`delivery_ref`); a dead letter keeps its whole delivery;
  - de-dup markers D#{connector}#{event id}: provider event ids only (no names, emails or
    text), but some embed a provider record id (HubSpot's contact id), so those of the
    person's interactions are deleted too; the rest expire with their TTL.
An erasure leaves behind only ERASED#{hash} items: HMAC-SHA256 under a per-table random salt of
each erased identity key and interaction id, never the values. The pipeline checks them before
resolving a delivery's author, so a late or replayed delivery is skipped ("erased"), not
turned back into a person.
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .deadletters import connector_ids
from .hub import Hub
from .pipeline.pulse import forget_voice
from .schema import IdentityRef, Interaction, Person
from .store.base import DeadLetter

log = logging.getLogger("chorus_hub.privacy")
# Identity values shorter than this are not searched for in dead letters' raw text: a short
# numeric id ("51") would match unrelated numbers and erase other people's deliveries.
MIN_MATCH_LENGTH = 6
DEAD_LETTER_PAGE = 200


def erasure_hashes(salt: str, identity_keys: list[str], interaction_ids: list[str]) -> list[str]:
    """Salted hashes of what was erased: enough to recognise it again, useless to read it back."""
    from .providers.signatures import hmac_digest

    def digest(value: str) -> str:
        return hmac_digest(salt, value).hex()

    return [digest(f"id:{k}") for k in identity_keys] + [digest(f"ix:{i}") for i in interaction_ids]


def is_erased(store, refs: list[IdentityRef], interaction: Interaction) -> bool:
    """True when the delivery's author (any identity) or the interaction itself was erased."""
    hashes = erasure_hashes(store.erasure_salt(), [r.key for r in refs], _erased_names(interaction))
    return store.any_erased(hashes)


def _erased_names(interaction: Interaction) -> list[str]:
    """An interaction is remembered as erased by its id and by its cross-connector key, so the
    same post coming back through another connector is not stored again."""
    return [interaction.interaction_id, *([f"key:{interaction.key}"] if interaction.key else [])]


@dataclass
class PersonData:
    """Everything Chorus holds about one person."""

    person: Person | None
    interactions: list[Interaction] = field(default_factory=list)
    sync_states: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    other_items: list[dict[str, Any]] = field(default_factory=list)
    item_count: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    merges: list[Any] = field(default_factory=list)  # MergeRecords of the identity graph

    @property
    def identities(self) -> list[IdentityRef]:
        return list(self.person.identities) if self.person else []

    @property
    def delivery_refs(self) -> list[str]:
        refs = [i.delivery_ref for i in self.interactions if i.delivery_ref]
        refs += [ref for d in self.dead_letters if (ref := d.message.get("body_ref"))]
        return list(dict.fromkeys(refs))


def collect(hub: Hub, person_id: str) -> PersonData | None:
    """Read everything about a person (None when nothing is held)."""
    items = hub.store.person_items(person_id)
    if not items.count:
        return None
    data = PersonData(
        person=items.person,
        interactions=items.interactions,
        sync_states=[s.to_json() for s in items.sync_states],
        actions=[a.model_dump(mode="json") for a in items.actions],
        other_items=items.other,
        item_count=items.count,
    )
    data.dead_letters = dead_letters_mentioning(hub, person_id, data)
    if data.person:
        data.merges = [m for m in (hub.store.get_merge(mid) for mid in data.person.merges) if m is not None]
    return data


def merged_into(hub: Hub, person_id: str, data: PersonData) -> list[str]:
    """Persons merged into this one (their profiles stay behind, pointing here)."""
    found = []
    for merge in data.merges:
        if merge.survivor_id == person_id and merge.merged_id != person_id:
            other = hub.store.get_person(merge.merged_id)
            if other is not None and other.merged_into == person_id:
                found.append(merge.merged_id)
    return found


def dead_letters_mentioning(hub: Hub, person_id: str, data: PersonData) -> list[DeadLetter]:
    """Dead letters about the person: sync jobs for them, and raw deliveries whose text holds one
    of their identity values (emails, handles, ids of 6+ characters) as a whole token.
    Dead letters are few and kept per connector, so this reads each connector's partition."""
    values = {r.value for r in data.identities if len(r.value) >= MIN_MATCH_LENGTH}
    if data.person and data.person.email:
        values.add(data.person.email)
    pattern = (
        re.compile("|".join(rf"(?<![\w.+-]){re.escape(v)}(?![\w-])" for v in sorted(values)), re.I)
        if values
        else None
    )
    found: list[DeadLetter] = []
    for cid in connector_ids(hub, None):
        cursor = None
        while True:
            letters, cursor = hub.store.dead_letters_page(cid, DEAD_LETTER_PAGE, cursor)
            found += [d for d in letters if _mentions(hub, d, person_id, pattern)]
            if not cursor:
                break
    return found


def _mentions(hub: Hub, letter: DeadLetter, person_id: str, pattern: re.Pattern | None) -> bool:
    message = letter.message
    if message.get("person_id") == person_id:
        return True
    if pattern is None:
        return False
    text = _letter_text(hub, message)
    return bool(text and pattern.search(text))


def _letter_text(hub: Hub, message: dict[str, Any]) -> str:
    try:
        if message.get("body_b64"):
            raw = base64.b64decode(message["body_b64"])
        elif message.get("body_ref"):
            raw = hub.blobs.get(message["body_ref"])
        else:
            raw = str(message.get("raw") or "").encode()
    except Exception:  # an unreadable or already-expired blob holds nothing to find
        return ""
    from urllib.parse import unquote_plus

    text = raw.decode("utf-8", errors="replace")
    return text + "\n" + unquote_plus(text)  # form-encoded deliveries spell @ as %40


def export_person(hub: Hub, person_id: str) -> dict[str, Any] | None:
    data = collect(hub, person_id)
    if data is None:
        return None
    return {
        "person_id": person_id,
        "profile": data.person.model_dump(mode="json") if data.person else None,
        "identities": [r.model_dump(mode="json") for r in data.identities],
        "interactions": [i.model_dump(mode="json") for i in data.interactions],
        "sync_states": data.sync_states,
        "crm_ids": {s["connector_id"]: s["crm_id"] for s in data.sync_states if s.get("crm_id")},
        "actions": data.actions,
        "other_items": data.other_items,
        "raw_deliveries": data.delivery_refs,
        "dead_letters": [{**asdict(d), "created_at": d.created_at.isoformat()} for d in data.dead_letters],
        "merges": [m.model_dump(mode="json") for m in data.merges],
        "merged_persons": [export_person(hub, other) for other in merged_into(hub, person_id, data)],
    }


@dataclass
class ErasureReport:
    person_id: str
    items: int = 0
    identities: int = 0
    dead_letters: int = 0
    raw_deliveries: int = 0
    dedup_markers: int = 0
    erasure_markers: int = 0
    merges: int = 0
    logged_bodies: int = 0
    merged_persons: list[str] = field(default_factory=list)


def erase_person(hub: Hub, person_id: str) -> ErasureReport | None:
    """Delete everything about a person; remember the erasure as salted hashes only.
    The markers are written first, so a delivery processed during the erasure is skipped."""
    data = collect(hub, person_id)
    if data is None:
        return None
    store = hub.store
    report = ErasureReport(person_id=person_id, items=data.item_count)
    identity_keys = [r.key for r in data.identities]
    hashes = erasure_hashes(
        store.erasure_salt(), identity_keys, [n for i in data.interactions for n in _erased_names(i)]
    )
    store.put_erasures(hashes, hub.clock())
    report.erasure_markers = len(hashes)
    for ref in data.delivery_refs:
        try:
            hub.blobs.delete(ref)
            report.raw_deliveries += 1
        except Exception as exc:  # a blob gone already (lifecycle expiry) is fine; say which kind
            log.warning("raw delivery not deleted", extra={"error": type(exc).__name__})
    for letter in data.dead_letters:
        store.delete_dead_letter(letter)
        report.dead_letters += 1
    report.logged_bodies = store.scrub_deliveries_about(person_id)  # the delivery log's bodies
    forget_voice(hub, person_id, data.interactions)  # the pulse's top voices
    markers = [(i.connector_id, i.event_id) for i in data.interactions]
    store.delete_processed_markers(markers)
    report.dedup_markers = len(set(markers))
    report.identities = sum(store.delete_identity(key, person_id) for key in identity_keys)
    for interaction in data.interactions:
        for key in [interaction.key, *interaction.also_keys] if interaction.key else interaction.also_keys:
            store.delete_interaction_key(key, interaction.interaction_id)
    store.delete_person_items(person_id)
    for other in merged_into(hub, person_id, data):  # what was merged into them is theirs too
        if erase_person(hub, other) is not None:
            report.merged_persons.append(other)
    for merge in data.merges:
        store.delete_merge(merge.merge_id)
        report.merges += 1
    if not store.forget_deleted():
        log.warning("erased rows still in the store's write-ahead log; the next erasure retries")
    log.info("person erased", extra={k: v for k, v in asdict(report).items() if k != "person_id"})
    return report
