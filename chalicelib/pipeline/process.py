"""Process one queued delivery: parse, de-duplicate, resolve, enrich, store, score, enqueue sync.

Every step is idempotent, so a redelivered message (SQS is at-least-once) lands on the
same stored state: interaction ids are stable, aggregates are recomputed from the
timeline, the de-dup marker is written last, and Person writes use optimistic locking.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..config.connector import Connector
from ..errors import MalformedPayload, UpstreamError
from ..hub import Hub
from ..privacy import is_erased
from ..providers import get_source
from ..providers.base import Delivery, ParseContext, Skipped
from ..providers.http import MeteredSession, Throttle, TokenSession
from ..providers.source import Source
from ..schema import Author, Envelope, IdentityLink, IdentityRef, Interaction, Person, SyncJob
from ..store.base import Store, VersionConflict
from ..sync.budget import AccountBudget, ApiBudget, budget_key
from . import crm_records
from .advocate import sync_worthy
from .authors import complete_author
from .crosskey import claim_aliases, claim_holder, find_any_holder, key_interaction
from .enrich import enrich
from .identity import author_links, crm_namespaces, resolve_links, typed_email
from .ingest import envelope_body
from .loop import apply_loop
from .merge import note_suggestions, redirect_if_merged, settle_ties
from .person_write import update_person
from .scoring import advocate_score, person_stats

log = logging.getLogger("chorus_hub.process")
MERGE_HOPS = 4  # a person merged into one merged again meanwhile: follow at most this many


class PermanentFailure(Exception):
    """The message can never succeed as it is (malformed, connector removed): dead-letter it."""


@dataclass
class ProcessOutcome:
    stored: list[str] = field(default_factory=list)
    interactions: list[tuple[str, str | None]] = field(default_factory=list)  # (interaction, person)
    duplicates: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    sync_jobs: int = 0
    jobs: list[dict] = field(default_factory=list, repr=False)  # sent by the caller, before its commit


@dataclass
class PreparedMessage:
    """A delivery parsed, its authors completed, its interactions enriched and their identities
    normalised: everything that needs no store, done before any transaction is opened."""

    envelope: Envelope
    connector: Connector
    items: list[Interaction | Skipped]
    links: list[list[IdentityLink]]  # per item: its author's links (empty for a Skipped)


def process_message(hub: Hub, message: dict) -> ProcessOutcome:
    """One delivery: prepared, then its store work in one transaction (the sync jobs it asks
    for are sent inside it, before the commit, so a crash before the commit sends them again)."""
    prepared = prepare_message(hub, message)
    with hub.store.atomic():
        outcome = store_message(hub, prepared)
        hub.store.touch_connector(prepared.connector.id, prepared.envelope.received_at)
    return outcome


def prepare_message(hub: Hub, message: dict) -> PreparedMessage:
    """The CPU work of a delivery, outside the store's write lock: two workers overlap here."""
    envelope = Envelope.model_validate(message)
    connector = hub.connectors.get(envelope.connector_id)
    if connector is None:
        raise PermanentFailure(f"connector '{envelope.connector_id}' is no longer configured")
    provider = get_source(connector.provider)
    delivery = Delivery(
        connector=connector,
        body=envelope_body(hub, envelope),
        headers=envelope.headers,
        query=envelope.query,
        content_type=envelope.content_type,
        url=envelope.url,
        received_at=envelope.received_at,
    )
    try:
        items = list(
            provider.parse(
                delivery, ParseContext(now=hub.clock(), http=_parse_session(hub, connector, provider))
            )
        )
    except MalformedPayload as exc:
        raise PermanentFailure(f"cannot parse delivery: {exc}") from None
    except UpstreamError as exc:
        if not exc.retryable:  # e.g. the provider API refused our token: retrying cannot help
            raise PermanentFailure(f"cannot fetch the delivery's object: {exc}") from None
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as exc:
        # A shape the parser did not expect: a parser bug that a retry cannot fix. The delivery
        # is dead-lettered whole, with its raw body, to replay once the parser is fixed.
        raise PermanentFailure(f"{provider.name} parser failed: {type(exc).__name__}") from None
    links: list[list[IdentityLink]] = []
    for item in items:
        if isinstance(item, Skipped):
            links.append([])
            continue
        if not item.deleted:  # profiles a push left out, fetched before any store work (authors.py)
            complete_author(hub, connector, provider, item)
        item.received_at, item.delivery_ref = envelope.received_at, envelope.body_ref
        links.append(prepare_interaction(hub, connector, item))
    return PreparedMessage(envelope, connector, items, links)


def prepare_interaction(hub: Hub, connector: Connector, interaction: Interaction) -> list[IdentityLink]:
    """Key and enrich the interaction in place; its author's identity links."""
    key_interaction(interaction)
    enrich(interaction, [*hub.settings.brand_terms, *connector.config.brand_terms])
    # the links carry the identities too: normalised once (an email's validation is ~25 us)
    return author_links(interaction, hub.settings.identity, crm_namespaces(hub.connectors), hub.clock())


def store_message(hub: Hub, prepared: PreparedMessage, send_jobs: bool = True) -> ProcessOutcome:
    """The store work of a prepared delivery, in the caller's transaction (store.atomic()).

    Each interaction's sync jobs are sent before its de-dup marker is written, so a crash between
    the two sends them again with the redelivery. With `send_jobs` False they are left in
    `outcome.jobs` for the caller to send before its commit (a store whose transaction holds the
    marker back until then: SQLite)."""
    connector, outcome = prepared.connector, ProcessOutcome()
    for item, links in zip(prepared.items, prepared.links):
        if isinstance(item, Skipped):
            outcome.skipped.append(item)
            hub.store.count_event(connector.id, f"skipped_{item.reason}")
            continue
        if hub.store.is_processed(connector.id, item.event_id):
            outcome.duplicates += 1
            continue
        sent = len(outcome.jobs)
        stored = apply_interaction(hub, connector, item, outcome, links)
        if stored:
            outcome.stored.append(item.interaction_id)
            outcome.interactions.append((item.interaction_id, item.person_id))
        if send_jobs:
            send_sync_jobs(hub, outcome.jobs[sent:])
        hub.store.mark_processed(connector.id, item.event_id, hub.settings.dedup_ttl_days)
    log.info(
        "delivery processed",
        extra={
            "connector_id": connector.id,
            "stored": len(outcome.stored),
            "duplicates": outcome.duplicates,
            "skipped": [s.reason for s in outcome.skipped],
            "sync_jobs": outcome.sync_jobs,
        },
    )
    return outcome


def _parse_session(hub: Hub, connector: Connector, provider: Source) -> TokenSession | MeteredSession:
    """What parse fetches with: metered by the source's `fetch_rate_limit` when it declares one
    (a spent budget or a 429 fails the delivery as retryable: it is redelivered, never lost)."""
    if provider.fetch_rate_limit is None:
        return TokenSession(hub.http, hub.store)
    scope = f"{budget_key(connector)}:fetch"
    meter = AccountBudget(ApiBudget(hub.store), scope, *provider.fetch_rate_limit)
    return MeteredSession(hub.http, meter, Throttle(), connector, tokens=hub.store)


def send_sync_jobs(hub: Hub, jobs: list[dict]) -> None:
    if jobs:
        hub.sync_queue.send_many(jobs)


def apply_interaction(
    hub: Hub,
    connector: Connector,
    interaction: Interaction,
    outcome: ProcessOutcome,
    links: list[IdentityLink] | None = None,
) -> bool:
    """Store one interaction on its person and refresh the person. False when skipped. `links`:
    what prepare_interaction returned for it (done here when None).

    One interaction per cross-connector key (crosskey.py): a post already stored, however it
    arrived, is updated in place, and a deletion finds it by its key, not through its author."""
    store = hub.store
    if links is None:
        links = prepare_interaction(hub, connector, interaction)
    key = interaction.key
    assert key is not None  # prepare_interaction keyed it
    holder = find_any_holder(store, interaction)
    if holder is not None:
        interaction.interaction_id = holder.interaction_id
    refs = [link.ref() for link in links]
    if is_erased(store, refs, interaction):  # erased people stay erased (privacy.py)
        outcome.skipped.append(Skipped("erased", "the person was erased", interaction.event_id))
        store.count_event(connector.id, "skipped_erased")
        return False
    if crm_records.is_deletion(interaction):
        return _apply_crm_deletion(hub, connector, interaction, outcome)
    # an edit or deletion of something kept still applies, brand term or not
    if connector.config.keep_only_brand_matches and not interaction.brand_matches and holder is None:
        outcome.skipped.append(Skipped("no_brand_match", "mentions no brand term", interaction.event_id))
        store.count_event(connector.id, "skipped_no_brand_match")
        return False
    settlement = None
    if interaction.deleted and holder is not None:
        # the key names the original: the deletion's author (missing, or another) is not needed
        person_id, owned = holder.person_id, []
    else:
        resolution = resolve_links(store, links, anonymous_key=interaction.interaction_id)
        settlement = settle_ties(hub, resolution, interaction.interaction_id)  # merges strongly tied persons
        person_id, owned = settlement.person_id, resolution.owned
        if holder is None:
            holder = claim_holder(store, key, person_id, interaction.interaction_id)
            interaction.interaction_id = holder.interaction_id  # another arrival may have won
        if holder.person_id != person_id:  # a stored post arriving with another author
            person_id, owned = holder.person_id, []
    interaction.person_id = person_id
    if interaction.crm_change is not None and is_echo(hub, person_id, interaction):
        outcome.skipped.append(Skipped("echo", "change written by Chorus itself", interaction.event_id))
        store.count_event(connector.id, "skipped_echo")
        return False
    if interaction.crm_change is not None:  # the person's record in that CRM: written by its id
        crm_records.note_record(hub, connector, person_id, interaction)
    existing = store.get_interaction(person_id, interaction.interaction_id)
    if interaction.deleted:
        if interaction.deletes_thread:
            _tombstone_thread(store, interaction)
        interaction = tombstone(existing, interaction)
    interaction = one_per_key(existing, interaction, connector.id)
    if not store.put_interaction(interaction):
        outcome.skipped.append(Skipped("stale", "a newer version is stored", interaction.event_id))
        return False
    if holder.pointer_person != person_id:  # moved by a merge: the key follows it
        store.claim_interaction_key(key, person_id, interaction.interaction_id)
    if interaction.also_keys:
        claim_aliases(store, interaction)
    refresh_person(hub, person_id, owned, interaction, outcome)
    if settlement is not None:
        note_suggestions(hub, settlement, interaction.interaction_id)  # weak ties, listed on both persons
    return True


def _apply_crm_deletion(
    hub: Hub, connector: Connector, interaction: Interaction, outcome: ProcessOutcome
) -> bool:
    """A CRM deleted a record: its person forgets it (pipeline/crm_records.py). The deletion
    stays on their timeline; an unknown record is skipped, never turned into a person."""
    person_id = crm_records.deletion_owner(hub, interaction)
    if person_id is None:
        outcome.skipped.append(Skipped("unknown_record", "no person holds that record", interaction.event_id))
        hub.store.count_event(connector.id, "skipped_unknown_record")
        return False
    crm_records.apply_deletion(hub, connector, person_id, interaction)
    interaction.person_id = person_id
    hub.store.put_interaction(interaction)
    refresh_person(hub, person_id, [], interaction, outcome)
    return True


def one_per_key(existing: Interaction | None, arrival: Interaction, connector_id: str) -> Interaction:
    """What to store when `arrival` names `existing`'s key, recording every connector that saw it.

    The same provider object again (an edit, a deletion) replaces the stored one, if newer
    (put_interaction judges). Another copy of it (a Google Alert of a blog post, a subreddit
    feed's entry of a Reddit post) keeps one interaction: the fuller text with its enrichment,
    an author from whichever copy names one, the earliest time."""
    if existing is None:
        return arrival.model_copy(update={"seen_by": list(dict.fromkeys([*arrival.seen_by, connector_id]))})
    seen = list(dict.fromkeys([*(existing.seen_by or [existing.connector_id]), connector_id]))
    same_object = (existing.connector_id, existing.external_id) == (arrival.connector_id, arrival.external_id)
    aliases = [a for a in dict.fromkeys([*existing.also_keys, *arrival.also_keys]) if a != existing.key]
    if same_object or arrival.deleted or existing.deleted:
        return arrival.model_copy(
            update={
                "seen_by": seen,
                "connector_id": existing.connector_id,
                "provider": existing.provider,
                "also_keys": aliases,
            }
        )
    richer, other = (
        (arrival, existing) if len(arrival.text or "") > len(existing.text or "") else (existing, arrival)
    )
    return richer.model_copy(
        update={
            "interaction_id": existing.interaction_id,
            "connector_id": existing.connector_id,
            "provider": existing.provider,
            "external_id": existing.external_id,
            "key": existing.key,
            "also_keys": aliases,
            "person_id": existing.person_id,
            "url": existing.url or arrival.url,
            "author": richer.author if _names_someone(richer.author) else other.author,
            "occurred_at": min(existing.occurred_at, arrival.occurred_at),
            # never older than what is stored, so the merged copy is written
            "updated_at": max(existing.version_time, arrival.version_time),
            "seen_by": seen,
        }
    )


def _names_someone(author: Author) -> bool:
    return any((author.email, author.handle, author.provider_user_id, author.display_name, author.phone))


def _tombstone_thread(store: Store, deletion: Interaction) -> None:
    """A thread deletion (a Zendesk ticket): every stored item of that thread keeps none of what
    was said, whoever said it (a CC'd user's comment as much as the requester's)."""
    assert deletion.thread_id is not None  # deletes_thread names a thread
    for item in store.thread_interactions(deletion.connector_id, deletion.thread_id):
        if item.interaction_id != deletion.interaction_id and not item.deleted:
            store.put_interaction(tombstone(item, deletion))


def tombstone(existing: Interaction | None, deletion: Interaction) -> Interaction:
    """A deleted post keeps its place in the timeline but none of what it said."""
    base = existing or deletion
    return base.model_copy(
        update={
            "deleted": True,
            "text": None,
            "sentiment": None,
            "brand_matches": [],
            "language": None,
            "nps": None,
            "nps_category": None,
            "rating": None,
            "ratings": [],
            "event_id": deletion.event_id,
            "updated_at": deletion.updated_at or deletion.occurred_at,
        }
    )


def is_echo(hub: Hub, person_id: str, interaction: Interaction) -> bool:
    """A CRM change notification for a value Chorus itself last wrote to that CRM."""
    change = interaction.crm_change
    if change is None or change.property is None:
        return False
    sinks = [c for c in hub.connectors.sinks() if c.provider == interaction.provider]
    states = hub.store.get_sync_states([(person_id, c.id) for c in sinks])
    for state in states.values():
        if change.property in state.written and str(state.written[change.property]) == (change.value or ""):
            return True
    return False


def refresh_person(
    hub: Hub, person_id: str, refs: Sequence[IdentityRef], interaction: Interaction, outcome: ProcessOutcome
) -> None:
    """Recompute the person from their timeline and write it with optimistic locking."""
    store = hub.store

    def refreshed(before: Person | None) -> Person | None:
        if before is not None and before.merged_into:
            return None  # merged meanwhile: the survivor takes it
        now = hub.clock()
        after = before or Person(person_id=person_id, created_at=now, updated_at=now)
        _merge_identity_facts(after, refs, interaction)
        timeline = store.person_interactions(person_id)
        after.stats = person_stats(timeline)
        after.advocate = advocate_score(after.stats, hub.settings.scoring, now)
        apply_loop(hub, after, interaction, timeline, now)  # consent flags and closed-loop actions
        after.updated_at = now
        return after

    for _ in range(MERGE_HOPS):
        before, after = update_person(store, person_id, refreshed)
        if after is not None:
            break
        person_id = redirect_if_merged(hub, person_id)
    else:
        raise VersionConflict(f"person {person_id} kept being merged; the message will be retried")
    now = after.updated_at
    hub.pulse.note(before, after, interaction)  # written at the end of the batch (pulse.py)
    crm_namespaces = {c.provider for c in hub.connectors.sinks()}
    if sync_worthy(before, after, hub.settings.scoring, crm_namespaces):
        jobs = [
            SyncJob(
                person_id=person_id, connector_id=c.id, requested_at=now, person_updated_at=now
            ).model_dump(mode="json")
            for c in hub.connectors.sinks()
        ]
        outcome.jobs += jobs
        outcome.sync_jobs += len(jobs)


def _typed_email(interaction: Interaction) -> str | None:
    """The author's address as given, else one a link vouches for (a hidden field)."""
    candidates = [interaction.author.email] + [
        ref.value for ref in interaction.links if ref.namespace == "email"
    ]
    return next((e for e in map(typed_email, candidates) if e), None)


def _merge_identity_facts(person: Person, refs: Sequence[IdentityRef], interaction: Interaction) -> None:
    known = {r.key for r in person.identities}
    person.identities += [
        IdentityRef(namespace=r.namespace, value=r.value) for r in refs if r.key not in known
    ]
    known_links = {link.key for link in person.links}
    person.links += [r for r in refs if isinstance(r, IdentityLink) and r.key not in known_links]
    email = _typed_email(interaction)  # as typed: the normalised form is a match key only
    change = interaction.crm_change
    if change is not None and change.event == "change" and email:
        # The CRM holds the contact's email: a change there is the person's email from now on
        # (an older notification arriving late does not undo a newer one).
        if person.email_changed_at is None or interaction.occurred_at >= person.email_changed_at:
            person.email, person.email_changed_at = email, interaction.occurred_at
    elif not person.email:
        person.email = email
    if interaction.author.display_name and not person.display_name:
        person.display_name = interaction.author.display_name
    for ref in refs:
        if ref.namespace.endswith("_handle"):
            person.handles[ref.namespace.removesuffix("_handle")] = ref.value
