"""ListenerCursors: where each listener's feed stands, kept across restarts and redeploys.

The position is the provider's own (a time, an id, a page token, an ETag): an opaque string
the store keeps and never reads. A run cut short keeps `resume` (where to go on) and
`resume_position` (where the position moves once that run ends); `position` only ever moves
past items already on the ingest queue.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Protocol


@dataclass
class ListenerCursor:
    connector_id: str
    feed: str  # which feed or query of the connector (a URL, a search term)
    position: str | None = None
    resume: str | None = None
    resume_position: str | None = None
    last_run_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_error: str | None = None
    failures: int = 0  # consecutive failed runs
    found: int = 0  # items queued, ever


class ListenerCursors(Protocol):
    def get_cursor(self, connector_id: str, feed: str) -> ListenerCursor | None: ...
    def put_cursor(self, cursor: ListenerCursor) -> None: ...
    def connector_cursors(self, connector_id: str) -> list[ListenerCursor]: ...


def cursor_to_json(cursor: ListenerCursor) -> str:
    """How backends keep a cursor: one JSON document."""
    data = asdict(cursor)
    for name in ("last_run_at", "last_ok_at"):
        data[name] = data[name].isoformat() if data[name] else None
    return json.dumps(data)


def cursor_from_json(text: str) -> ListenerCursor:
    data = json.loads(text)
    for name in ("last_run_at", "last_ok_at"):
        if data.get(name):
            data[name] = datetime.fromisoformat(data[name])
    return ListenerCursor(**data)
