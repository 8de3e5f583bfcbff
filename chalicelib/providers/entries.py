"""Per-entry parsing, and plain text out of HTML bodies.

A delivery that batches many entries (Meta's entry[].changes[], X's event arrays, an Atom
feed's entries) must keep its good entries when one is malformed, and a single-event delivery
whose event has a missing or wrong-typed field is recorded as skipped, not crashed on:
`guarded` turns the shape error into Skipped("malformed_entry"), which the pipeline counts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..errors import MalformedPayload
from .base import Skipped

T = TypeVar("T")
# What a missing or wrong-typed field raises while an entry is read (pydantic's ValidationError
# and UnicodeEncodeError are ValueErrors; OverflowError: an epoch past what datetime can hold).
SHAPE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)
_TAGS = re.compile(r"<[^>]+>")
_BREAKS = re.compile(r"<\s*(br|/p|/div|/li|/h\d)\s*/?\s*>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\f\v]+")


def guarded(parse_one: Callable[[Any], T], entry: Any, event_id: str | None = None) -> T | Skipped:
    """One bad entry never costs the good ones of the same delivery, nor crashes the parser."""
    try:
        return parse_one(entry)
    except SHAPE_ERRORS as exc:
        return Skipped("malformed_entry", f"{type(exc).__name__}: {exc}", event_id)


@contextmanager
def misshapen_is_malformed(what: str) -> Iterator[None]:
    """For a delivery that is one event: a shape error while reading it makes the whole
    delivery MalformedPayload (dead-lettered with `what`), where a batch would skip the entry."""
    try:
        yield
    except SHAPE_ERRORS as exc:
        raise MalformedPayload(f"{what}: {exc!r}") from None


def guarded_all(
    parse_many: Callable[[Any], list[T]], entry: Any, event_id: str | None = None
) -> list[T | Skipped]:
    """guarded() for an entry that yields several results (one per changed field): all, or one Skipped."""
    results = guarded(parse_many, entry, event_id)
    return [results] if isinstance(results, Skipped) else list(results)


def each_entry(parse_one: Callable[[Any], T], entries: Any, event_id: str | None = None) -> list[T | Skipped]:
    """guarded() over an optional array: absent is none; anything but an array is one Skipped."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        return [Skipped("malformed_entry", f"expected an array, got {type(entries).__name__}", event_id)]
    return [guarded(parse_one, entry, event_id) for entry in entries]


def entry_id(value: Any) -> str | None:
    """An id field as text; None when it is absent, empty or not a string or integer."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value) or None


def html_to_text(markup: str | None) -> str | None:
    """'<p>Hi <b>there</b></p><p>Thanks</p>' -> 'Hi there\\nThanks'. Entities are decoded."""
    if not markup:
        return None
    text = html.unescape(_TAGS.sub("", _BREAKS.sub("\n", markup)))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return "\n".join(line for line in lines if line) or None
