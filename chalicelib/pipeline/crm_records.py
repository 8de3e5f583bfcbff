"""A CRM record's life as its notifications and answers tell it, per sink connector.

- A record a CRM notified (or a sink returned) is the person's record in that CRM: the sync
  state keeps its id, and later writes address it by id (a CRM-side email change then updates
  the record instead of creating a second one).
- A deletion drops the link (the identity pointer and the state's id). A privacy deletion
  (HubSpot contact.privacyDeletion) marks the person never to be written to that CRM again; a
  plain deletion follows the connector's `on_crm_delete`: keep_deleted (the default: nothing is
  written until the CRM restores the record or notifies a new one for the person) or recreate
  (the next write matches by email, then creates).
- A merge in the CRM moves the person onto the surviving record.
The sync engine calls `forget_record` too, when a write by id finds the record gone.
"""

from __future__ import annotations

import logging

from ..config.connector import Connector
from ..hub import Hub
from ..schema import IdentityRef, Interaction, Person
from ..store.base import SyncState
from .identity import current_owner, link_identity
from .person_write import update_person

log = logging.getLogger("chorus_hub.crm_records")
DELETIONS = ("delete", "privacy_delete")
PRIVACY_DELETED, DELETED = "privacy_deleted", "deleted"


def is_deletion(interaction: Interaction) -> bool:
    return interaction.crm_change is not None and interaction.crm_change.event in DELETIONS


def account_sinks(hub: Hub, source: Connector) -> list[Connector]:
    """The sink connectors that write to the CRM account `source` hears from: itself when it
    is a sink too, else the sinks of its provider (several: the caller tells them apart by id)."""
    if source.config.is_sink:
        return [source]
    return [c for c in hub.connectors.sinks() if c.provider == source.provider]


def refusal(state: SyncState, connector: Connector) -> str | None:
    """Why nothing may be written for this person to this sink, or None."""
    if state.crm_deleted == PRIVACY_DELETED:
        return "privacy-deleted in the CRM: never written again"
    if state.crm_deleted == DELETED and connector.config.on_crm_delete == "keep_deleted":
        return "deleted in the CRM (on_crm_delete: keep_deleted)"
    return None


def live_crm_id(state: SyncState) -> str | None:
    """The record id to write by: none once the CRM deleted it."""
    return None if state.crm_deleted else state.crm_id


def forget_record(hub: Hub, connector: Connector, state: SyncState, record_id: str, privacy: bool) -> None:
    """The CRM deleted `record_id`: drop it from the sync state and tombstone it as the rules say.
    The caller writes the state."""
    if privacy:
        state.crm_deleted = PRIVACY_DELETED
    elif connector.config.on_crm_delete == "keep_deleted":
        state.crm_deleted = DELETED
    else:  # recreate: the next write matches by email, then creates
        state.crm_deleted = None
    state.crm_id = record_id if state.crm_deleted else None
    state.record_hash, state.written = None, {}  # whatever comes next is a write, not a no-op
    unlink(hub, state.person_id, IdentityRef(namespace=connector.provider, value=record_id))


def unlink(hub: Hub, person_id: str, ref: IdentityRef) -> None:
    """Drop an identity (a CRM record id) from the person: the pointer and their profile's lists."""
    store = hub.store
    store.delete_identity(ref.key, person_id)

    def without(person: Person | None) -> Person | None:
        if person is None or not any(r.key == ref.key for r in person.identities + person.links):
            return None
        person.identities = [r for r in person.identities if r.key != ref.key]
        person.links = [link for link in person.links if link.key != ref.key]
        return person

    update_person(store, person_id, without)


def deletion_owner(hub: Hub, interaction: Interaction) -> str | None:
    """Who the deleted record belonged to (read only: a deletion never claims an identity)."""
    if interaction.crm_change is None:
        return None
    ref = IdentityRef(namespace=interaction.provider, value=interaction.crm_change.object_id)
    owner = hub.store.find_identities([ref]).get(ref.key)
    return current_owner(hub.store, owner) if owner else None


def apply_deletion(hub: Hub, source: Connector, person_id: str, interaction: Interaction) -> None:
    """A CRM deleted a record of `person_id`: each sink of that account forgets it."""
    change = interaction.crm_change
    if change is None:
        return
    record_id, privacy = change.object_id, change.event == "privacy_delete"
    sinks = account_sinks(hub, source)
    states = hub.store.get_sync_states([(person_id, c.id) for c in sinks])
    for sink in sinks:
        state = states.get((person_id, sink.id)) or SyncState(person_id, sink.id)
        if len(sinks) > 1 and state.crm_id != record_id:
            continue  # several accounts of that CRM: only the one holding that record
        if state.crm_id not in (None, record_id) and not privacy:
            continue  # a duplicate of theirs was deleted; the record Chorus writes lives on
        forget_record(hub, sink, state, record_id, privacy)
        hub.store.put_sync_state(state)
        log.info(
            "CRM record deleted",
            extra={"connector_id": sink.id, "person_id": person_id, "privacy": privacy},
        )
    unlink(hub, person_id, IdentityRef(namespace=interaction.provider, value=record_id))


def note_record(hub: Hub, source: Connector, person_id: str, interaction: Interaction) -> None:
    """A CRM notified a live record of the person: the sink writes by its id from now on; a
    restore or a new record for them lifts keep_deleted (never a privacy deletion); a merge
    moves them onto the surviving record."""
    change = interaction.crm_change
    if change is None or change.event in DELETIONS:
        return
    sinks = account_sinks(hub, source)
    if len(sinks) != 1:
        return  # several accounts of that CRM: only their own writes tell which record is whose
    [sink] = sinks
    state = hub.store.get_sync_states([(person_id, sink.id)]).get((person_id, sink.id)) or SyncState(
        person_id, sink.id
    )
    record_id = change.merged_into if change.event == "merge" and change.merged_into else change.object_id
    if state.crm_deleted == PRIVACY_DELETED:
        return
    if change.event == "merge":
        if state.crm_id not in (None, change.object_id):
            return
        unlink(hub, person_id, IdentityRef(namespace=sink.provider, value=change.object_id))
        link_identity(
            hub.store,
            person_id,
            IdentityRef(namespace=sink.provider, value=record_id),
            source_connector=source.id,
        )
    elif state.crm_deleted == DELETED:
        if record_id == state.crm_id and change.event != "restore":
            return  # a late notification of the deleted record: it stays deleted
    elif state.crm_id is not None:
        return  # the record already known stays the one written (a CRM duplicate is not adopted)
    state.crm_id, state.crm_deleted, state.record_hash = record_id, None, None
    hub.store.put_sync_state(state)
