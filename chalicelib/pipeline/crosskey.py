"""The cross-connector key of an interaction, and the stored interaction it names.

A key is what a provider vouches for (the platform's object id, `hn:item:8863`, or a permalink
it knows to be the item's own), canonicalised when it is a URL; otherwise the connector and
the provider's id, as before keys existed (a URL a webhook carries may be the parent post's,
so it is never guessed to be the item's own).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..providers.permalink import canonical_permalink
from ..schema import Interaction
from ..store.base import Store
from .identity import current_owner


@dataclass(frozen=True)
class Holder:
    """Where the interaction of a key is stored: its person (merges followed), its id, and the
    person the key pointed at (before a merge moved the interaction)."""

    person_id: str
    interaction_id: str
    pointer_person: str


def cross_key(interaction: Interaction) -> str:
    return _canonical(interaction.key) or f"{interaction.connector_id}#{interaction.external_id}"


def _canonical(key: str | None) -> str | None:
    if key and key.lower().startswith(("http://", "https://")):
        return canonical_permalink(key) or key
    return key


def key_interaction(interaction: Interaction) -> str:
    """Set the interaction's canonical key and aliases in place; its key."""
    interaction.key = cross_key(interaction)
    aliases = (_canonical(alias) for alias in interaction.also_keys)
    interaction.also_keys = list(dict.fromkeys(a for a in aliases if a and a != interaction.key))
    return interaction.key


def find_any_holder(store: Store, interaction: Interaction) -> Holder | None:
    """The stored interaction named by the key or, failing that, by one of its aliases (a
    deletion naming an edited post's later version finds the post kept under its first)."""
    for key in [interaction.key, *interaction.also_keys]:
        holder = find_holder(store, key) if key else None
        if holder is not None:
            return holder
    return None


def claim_aliases(store: Store, interaction: Interaction) -> None:
    """Point the interaction's aliases at it (where nothing else holds them yet)."""
    assert interaction.person_id is not None
    for alias in interaction.also_keys:
        store.claim_interaction_key(alias, interaction.person_id, interaction.interaction_id)


def find_holder(store: Store, key: str) -> Holder | None:
    found = store.find_interaction_key(key)
    if found is None:
        return None
    return Holder(current_owner(store, found[0]), found[1], found[0])


def claim_holder(store: Store, key: str, person_id: str, interaction_id: str) -> Holder:
    """Claim the key for this interaction; a concurrent arrival that won is the holder."""
    person, iid = store.claim_interaction_key(key, person_id, interaction_id)
    return Holder(person if iid == interaction_id else current_owner(store, person), iid, person)
