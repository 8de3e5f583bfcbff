"""What the stores hold besides the schema's models: sync states, dead letters, a person's
whole partition, and the errors every backend raises alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from ..schema import Action, Interaction, Person

T = TypeVar("T")

# One page of a listing: the items and the cursor of the next page (None on the last page).
# A cursor is an opaque string made by the store that served the page; give it back unchanged.
Page = tuple[list[T], str | None]


class VersionConflict(Exception):
    """Someone else updated the item first; re-read and try again."""


class BadCursor(ValueError):
    """A cursor this store did not hand out for this listing (forged, truncated or another list's)."""


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
    # The CRM deleted the record `crm_id` names: "deleted" (the connector's on_crm_delete says
    # whether Chorus may create it again) or "privacy_deleted" (never written to again).
    crm_deleted: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
            "synced_at": self.synced_at.isoformat() if self.synced_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SyncState:
        data = dict(data)
        for name in ("changed_at", "synced_at"):
            if data.get(name):
                data[name] = datetime.fromisoformat(data[name])
        return cls(**data)


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

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "created_at": self.created_at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeadLetter:
        return cls(**{**data, "created_at": datetime.fromisoformat(data["created_at"])})


@dataclass
class PersonItems:
    """Everything kept under one person (privacy export and erasure), typed by kind.
    `other` holds what has no model of its own (the loop's per-rule caps), as plain JSON."""

    person: Person | None = None
    interactions: list[Interaction] = field(default_factory=list)
    sync_states: list[SyncState] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    other: list[dict[str, Any]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return (
            (self.person is not None)
            + len(self.interactions)
            + len(self.sync_states)
            + len(self.actions)
            + len(self.other)
        )
