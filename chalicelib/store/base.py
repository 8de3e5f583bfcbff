"""What the pipeline needs from storage. The DynamoDB store implements it; tests may fake it."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..schema import IdentityRef, Interaction, Person


class VersionConflict(Exception):
    """Someone else updated the item first; re-read and try again."""


@dataclass
class SyncState:
    """What Chorus last wrote for one person into one sink connector."""

    person_id: str
    connector_id: str
    record_hash: str | None = None
    crm_id: str | None = None
    written: dict[str, Any] = field(default_factory=dict)
    changed_at: datetime | None = None
    synced_at: datetime | None = None
    skipped_reason: str | None = None


@dataclass
class DeadLetter:
    """A message Chorus could not handle, with the reason, kept until replayed."""

    dead_letter_id: str
    stage: str  # "ingest" | "sync" | "parse"
    connector_id: str
    reason: str
    message: dict[str, Any]
    created_at: datetime
    attempts: int = 0


class Store(Protocol):
    def is_processed(self, connector_id: str, event_id: str) -> bool: ...
    def mark_processed(self, connector_id: str, event_id: str, ttl_days: int) -> None: ...
    def find_identities(self, refs: list[IdentityRef]) -> dict[str, str]: ...
    def claim_identity(self, ref: IdentityRef, person_id: str) -> str: ...
    def get_person(self, person_id: str) -> Person | None: ...
    def put_person(self, person: Person, expected_version: int | None) -> int: ...
    def get_person_versioned(self, person_id: str) -> tuple[Person | None, int | None]: ...
    def get_interaction(self, person_id: str, interaction_id: str) -> Interaction | None: ...
    def put_interaction(self, interaction: Interaction) -> bool: ...
    def person_interactions(self, person_id: str) -> list[Interaction]: ...
    def connector_interactions(self, connector_id: str, limit: int) -> list[Interaction]: ...
    def advocates(self, min_score: float, limit: int) -> list[Person]: ...
    def get_sync_states(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], SyncState]: ...
    def put_sync_state(self, state: SyncState) -> None: ...
    def put_dead_letter(self, letter: DeadLetter) -> None: ...
    def dead_letters(self, connector_id: str, limit: int) -> list[DeadLetter]: ...
    def delete_dead_letter(self, letter: DeadLetter) -> None: ...
    def count_event(self, connector_id: str, reason: str) -> None: ...
