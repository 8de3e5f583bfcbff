"""Opaque page cursors: URL-safe base64 of a small JSON document naming the listing it
belongs to (`q`) and where to resume (`k`, the backend's own position). Callers never read
them; a cursor given to another listing, or not made here, is refused with BadCursor."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from .records import BadCursor


def encode(scope: str, position: Any) -> str | None:
    """The cursor resuming `scope` at `position` (None: there is no next page)."""
    if position is None:
        return None
    raw = json.dumps({"q": scope, "k": position}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(scope: str, cursor: str | None) -> Any:
    """The position in `cursor` (None for the first page); BadCursor unless made for `scope`."""
    if cursor is None:
        return None
    if not isinstance(cursor, str) or not cursor or len(cursor) > 4096:
        raise BadCursor("not a cursor this store handed out")
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadCursor("not a cursor this store handed out") from None
    if not isinstance(value, dict) or value.get("q") != scope or value.get("k") is None:
        raise BadCursor("not a cursor for this list")
    return value["k"]
