"""Per-entry parsing for batched deliveries, and plain text out of HTML bodies.

A delivery that batches many entries (Meta's entry[].changes[], X's event arrays, an Atom
feed's entries) must keep its good entries when one is malformed: `guarded` turns the bad
entry's KeyError/TypeError/ValueError into Skipped("malformed_entry").
"""
from __future__ import annotations

import html
import re
from typing import Any, Callable

from ..schema import Interaction
from .base import Skipped

ParseOne = Callable[[Any], "Interaction | Skipped"]
_TAGS = re.compile(r"<[^>]+>")
_BREAKS = re.compile(r"<\s*(br|/p|/div|/li|/h\d)\s*/?\s*>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\f\v]+")


def guarded(parse_one: ParseOne, entry: Any, event_id: str | None = None) -> Interaction | Skipped:
    """One bad entry never costs the good ones of the same delivery."""
    try:
        return parse_one(entry)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        return Skipped("malformed_entry", f"{type(exc).__name__}: {exc}", event_id)


def html_to_text(markup: str | None) -> str | None:
    """'<p>Hi <b>there</b></p><p>Thanks</p>' -> 'Hi there\\nThanks'. Entities are decoded."""
    if not markup:
        return None
    text = html.unescape(_TAGS.sub("", _BREAKS.sub("\n", markup)))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line) or None
