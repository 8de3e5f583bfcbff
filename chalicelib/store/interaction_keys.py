"""InteractionKeys: one interaction per cross-connector key, found without its author.

A key names a post wherever it came from (the platform's object id, or its canonical
permalink: pipeline/crosskey.py). The index maps it to the person and interaction holding it,
so a second arrival (another feed, another connector) and a deletion reach the one stored
interaction even when their author is missing or differs.
"""

from __future__ import annotations

from typing import Protocol


class InteractionKeys(Protocol):
    def find_interaction_key(self, key: str) -> tuple[str, str] | None:
        """(person id, interaction id) holding `key`, or None."""
        ...

    def claim_interaction_key(self, key: str, person_id: str, interaction_id: str) -> tuple[str, str]:
        """Point `key` at the interaction unless it points elsewhere already; return the holder.
        The same interaction claiming again moves the pointer to `person_id` (a merge moved it)."""
        ...

    def delete_interaction_key(self, key: str, interaction_id: str) -> None:
        """Forget `key` if it still names `interaction_id` (privacy erasure)."""
        ...
