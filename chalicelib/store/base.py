"""What the pipeline needs from storage: one small protocol per aggregate, each with the
semantics every backend must keep (tests/store/ checks them against each backend).

Consumers type against the protocol they use (`budget: BudgetStore`); `Store` is their union,
what a Hub holds. Backends: store/dynamodb.py (AWS, one table), store/sqlite.py (the local hub).
Listings return a Page: (items, cursor), the cursor an opaque string or None on the last page;
pass it back as `cursor` for the next page. A cursor the store did not hand out for that very
listing raises BadCursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from ..schema import Action, IdentityLink, IdentityRef, Interaction, MergeRecord, Person
from .counters import Counters
from .delivery_log import DeliveryLog
from .interaction_keys import InteractionKeys
from .listener_cursors import ListenerCursor, ListenerCursors
from .records import BadCursor, DeadLetter, Page, PersonItems, SyncState, VersionConflict

__all__ = [
    "BadCursor",
    "BudgetStore",
    "ConnectorStatsStore",
    "Counters",
    "CreateClaimStore",
    "DeadLetter",
    "DeadLetterStore",
    "DedupStore",
    "DeliveryLog",
    "ErasureStore",
    "IdentityStore",
    "InteractionKeys",
    "ListenerCursor",
    "ListenerCursors",
    "InteractionStore",
    "LoopStore",
    "MergeStore",
    "Page",
    "PersonItems",
    "PersonStore",
    "Store",
    "SyncState",
    "SyncStateStore",
    "UnitOfWork",
    "VersionConflict",
]


class UnitOfWork(Protocol):
    def atomic(self) -> AbstractContextManager[None]:
        """The writes inside commit together or not at all where the backend can (SQLite: one
        transaction); elsewhere each write stands alone. Hold it for store work only, never
        around network calls: other writers may wait for it."""
        ...


class DedupStore(Protocol):
    """Markers of processed delivery events; a marker expires `ttl_days` after it was set."""

    def is_processed(self, connector_id: str, event_id: str) -> bool: ...
    def mark_processed(self, connector_id: str, event_id: str, ttl_days: int) -> None: ...
    def delete_processed_markers(self, markers: list[tuple[str, str]]) -> None: ...


class IdentityStore(Protocol):
    """Identity key -> owning person. A claim is put-if-absent; reads are strongly consistent."""

    def find_identities(self, refs: Sequence[IdentityRef]) -> dict[str, str]: ...
    def find_identity_links(self, refs: Sequence[IdentityRef]) -> dict[str, tuple[str, float]]:
        """identity key -> (person id, confidence); claims without a confidence count as 1.0."""
        ...

    def claim_identity(self, ref: IdentityRef, person_id: str) -> str:
        """Point `ref` at `person_id` unless it points somewhere already; the owner either way."""
        ...

    def claim_identity_link(self, link: IdentityLink, person_id: str) -> str: ...
    def claim_identity_links(self, links: list[IdentityLink], person_id: str) -> bool:
        """Claim all of `links` for the person, or none (False when any is owned already)."""
        ...

    def repoint_identity(self, ref: IdentityRef, from_person: str, to_person: str) -> bool:
        """Move an identity to `to_person` only if it still points at `from_person`."""
        ...

    def delete_identity(self, ref_key: str, person_id: str) -> bool:
        """Delete the pointer only if it still points at `person_id`."""
        ...


class PersonStore(Protocol):
    """Profiles with optimistic versions, ranked by advocate score, scheduled for decay."""

    def get_person(self, person_id: str) -> Person | None: ...
    def get_person_versioned(self, person_id: str) -> tuple[Person | None, int | None]: ...
    def put_person(self, person: Person, expected_version: int | None) -> int:
        """Write if the stored version is `expected_version` (None: must not exist); the new
        version. Raises VersionConflict otherwise. A merged-away person leaves the rankings."""
        ...

    def advocates(self, min_score: float, limit: int) -> list[Person]: ...
    def advocates_page(self, min_score: float, limit: int, cursor: str | None = None) -> Page[Person]:
        """People scoring at least `min_score`, highest first."""
        ...

    def people_due_for_decay(self, now: datetime, limit: int) -> list[str]:
        """Ids of people whose advocate.decay_due_at is at or before `now`."""
        ...


class InteractionStore(Protocol):
    """A person's timeline; a connector's interactions newest first."""

    def get_interaction(self, person_id: str, interaction_id: str) -> Interaction | None: ...
    def put_interaction(self, interaction: Interaction) -> bool:
        """Write unless a newer version_time of the same interaction is stored (False then)."""
        ...

    def delete_interaction(self, person_id: str, interaction_id: str) -> None: ...
    def person_interactions(self, person_id: str) -> list[Interaction]:
        """All of a person's interactions, oldest first."""
        ...

    def connector_interactions(self, connector_id: str, limit: int) -> list[Interaction]: ...
    def thread_interactions(self, connector_id: str, thread_id: str) -> list[Interaction]:
        """Every stored item of one of a connector's threads, whoever wrote it, oldest first."""
        ...

    def person_interactions_page(
        self, person_id: str, limit: int, cursor: str | None = None
    ) -> Page[Interaction]:
        """A person's interactions by interaction id."""
        ...

    def connector_interactions_page(
        self, connector_id: str, limit: int, cursor: str | None = None
    ) -> Page[Interaction]:
        """A connector's interactions newest first (by occurred_at, then id)."""
        ...


class SyncStateStore(Protocol):
    """What was last written for a person into each sink connector."""

    def get_sync_states(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], SyncState]: ...
    def put_sync_state(self, state: SyncState) -> None: ...
    def delete_sync_state(self, person_id: str, connector_id: str) -> None: ...


class DeadLetterStore(Protocol):
    """Messages that could not be handled, per connector, oldest first."""

    def put_dead_letter(self, letter: DeadLetter) -> None: ...
    def dead_letters(self, connector_id: str, limit: int) -> list[DeadLetter]: ...
    def dead_letters_page(
        self, connector_id: str, limit: int, cursor: str | None = None
    ) -> Page[DeadLetter]: ...
    def delete_dead_letter(self, letter: DeadLetter) -> None: ...


class ConnectorStatsStore(Protocol):
    """Per-connector counters by reason, and the newest delivery time."""

    def count_event(self, connector_id: str, reason: str) -> None: ...
    def event_counts(self, connector_id: str) -> dict[str, int]: ...
    def touch_connector(self, connector_id: str, received_at: datetime) -> None:
        """Keep `received_at` as the newest delivery time, only if newer than the stored one."""
        ...

    def connector_stats(self, connector_ids: list[str]) -> dict[str, dict[str, Any]]:
        """connector id -> {"counts": {reason: n}, "last_delivery_at": ISO text or None}."""
        ...


class BudgetStore(Protocol):
    """Shared API budgets (sync/budget.py): windows of counted calls, and blocks (Retry-After)."""

    def budget_take(self, key: str, window: int, limit: int, ttl: int) -> bool:
        """Count one call in `window` unless `limit` calls are counted there already."""
        ...

    def budget_blocked_until(self, key: str) -> float: ...
    def get_token(self, key: str) -> tuple[str, float] | None:
        """A sealed OAuth access token shared by every worker, and when it expires (epoch s)."""
        ...

    def put_token(self, key: str, sealed: str, expires_at: float) -> None: ...
    def budget_block(self, key: str, until: float) -> None:
        """Block until `until` (epoch seconds); a block only moves forward, never back."""
        ...


class CreateClaimStore(Protocol):
    """The right to create a record in a sink without an upsert (providers/crm_common.py)."""

    def claim_create(self, key: str, now: datetime, lease_seconds: float) -> tuple[bool, str | None, float]:
        """(True, None, lease end) when taken; (False, the id recorded by the holder if any,
        the holder's lease end) while another's lease runs. Lease ends in epoch seconds."""
        ...

    def record_created(self, key: str, crm_id: str) -> None: ...


class LoopStore(Protocol):
    """The closed loop's per-person, per-rule cap and the actions it took."""

    def claim_loop_slot(
        self, person_id: str, rule: str, interaction_id: str, now: datetime, cooldown_seconds: float
    ) -> bool:
        """Take the slot unless another interaction took it less than `cooldown_seconds` ago;
        the same interaction may take it again (a retry)."""
        ...

    def put_action(self, action: Action) -> bool:
        """Store an action once: False when its id is stored already."""
        ...

    def actions_page(self, person_id: str | None, limit: int, cursor: str | None = None) -> Page[Action]:
        """Every action newest first, or one person's by action id."""
        ...


class MergeStore(Protocol):
    """MergeRecords of the identity graph: what a merge moved, so it can be undone."""

    def put_merge(self, merge: MergeRecord) -> None: ...
    def get_merge(self, merge_id: str) -> MergeRecord | None: ...
    def delete_merge(self, merge_id: str) -> None: ...


class ErasureStore(Protocol):
    """Privacy: a person's whole partition, its deletion, and salted hashes of what was erased."""

    def person_items(self, person_id: str) -> PersonItems: ...
    def delete_person_items(self, person_id: str) -> int:
        """Delete everything under the person (profile, timeline, sync states, actions, caps)."""
        ...

    def erasure_salt(self) -> str:
        """A random salt made once per store."""
        ...

    def put_erasures(self, hashes: list[str], erased_at: datetime) -> None: ...
    def forget_deleted(self) -> bool:
        """After an erasure: make deleted data unrecoverable from the backend's own files where it
        can (SQLite: checkpoint and truncate the WAL). False when it could not yet."""
        ...

    def any_erased(self, hashes: list[str]) -> bool: ...


class Store(
    UnitOfWork,
    DedupStore,
    IdentityStore,
    PersonStore,
    InteractionStore,
    SyncStateStore,
    DeadLetterStore,
    ConnectorStatsStore,
    BudgetStore,
    CreateClaimStore,
    LoopStore,
    MergeStore,
    ErasureStore,
    DeliveryLog,
    Counters,
    ListenerCursors,
    InteractionKeys,
    Protocol,
):
    """Every aggregate: what a Hub holds."""
