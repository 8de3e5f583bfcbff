"""Dead letters: list them and replay them onto the queue they came from.

A dead letter keeps the whole queue message (a raw delivery's envelope, or a sync job), so a
replay after a fix is exactly the original work. Replayed letters are deleted; letters whose
message cannot be replayed (unreadable) stay, with their reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from .hub import Hub
from .pipeline.delivery_log import record_step
from .schema import Envelope, SyncJob
from .store.base import DeadLetter

UNKNOWN = "unknown"


def connector_ids(hub: Hub, connector_id: str | None) -> list[str]:
    return [connector_id] if connector_id else [*sorted(hub.connectors.connectors), UNKNOWN]


def list_dead_letters(hub: Hub, connector_id: str | None = None, limit: int = 100) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    for cid in connector_ids(hub, connector_id):
        letters += hub.store.dead_letters(cid, limit)
    return sorted(letters, key=lambda d: d.created_at)[:limit]


@dataclass
class ReplayResult:
    replayed: int = 0
    kept: int = 0


def replay(hub: Hub, connector_id: str | None = None, limit: int = 1000) -> ReplayResult:
    """Send dead letters back to their queue (oldest first) and delete them."""
    result = ReplayResult()
    for letter in list_dead_letters(hub, connector_id, limit):
        if replay_letter(hub, letter):
            result.replayed += 1
        else:
            result.kept += 1
    return result


def replay_letter(hub: Hub, letter: DeadLetter) -> bool:
    """Send one dead letter back to its queue and delete it; False (and kept) when unreadable."""
    message = letter.message
    try:
        if letter.stage == "sync":
            job = SyncJob.model_validate(message)
            job.attempt += 1
            hub.sync_queue.send(job.model_dump(mode="json"))
        else:
            hub.ingest_queue.send(Envelope.model_validate(message).model_dump(mode="json"))
    except ValueError:  # pydantic's ValidationError: an unreadable message stays where it is
        return False
    hub.store.delete_dead_letter(letter)
    if letter.stage != "sync":
        record_step(hub, message, {"status": "replayed", "dead_letter_id": letter.dead_letter_id})
    return True
