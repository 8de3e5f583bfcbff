"""Identity resolution: find or create the Person who owns an author's identities.

Identities are claimed with conditional puts, so two concurrent deliveries for one new
email end up on one Person: the loser of the race adopts the winner's person id.
"""
from __future__ import annotations

import hashlib
import uuid

from ..schema import IdentityRef, Interaction
from ..store.base import Store


def normalise_email(email: str) -> str:
    return email.strip().lower()


def author_identities(interaction: Interaction) -> list[IdentityRef]:
    """Every identity the delivery vouches for: email, provider user id, handle, links."""
    author = interaction.author
    refs: list[IdentityRef] = []
    if author.email and "@" in author.email:
        refs.append(IdentityRef(namespace="email", value=normalise_email(author.email)))
    if author.provider_user_id:
        refs.append(IdentityRef(namespace=interaction.provider, value=str(author.provider_user_id)))
    if author.handle:
        refs.append(IdentityRef(namespace=f"{interaction.provider}_handle",
                                value=author.handle.lstrip("@").lower()))
    for link in interaction.links:
        value = normalise_email(link.value) if link.namespace == "email" else link.value
        if link.namespace.endswith("_handle"):
            value = value.lstrip("@").lower()
        refs.append(IdentityRef(namespace=link.namespace, value=value))
    return list({r.key: r for r in refs}.values())


def resolve_person(store: Store, refs: list[IdentityRef], anonymous_key: str) -> str:
    """The person id owning `refs`; claims the ones nobody owns yet."""
    if not refs:
        # No identity at all (an anonymous survey): a person of its own, stable across retries.
        return "anon-" + hashlib.sha256(anonymous_key.encode()).hexdigest()[:24]
    found = store.find_identities(refs)
    person_id = next((found[r.key] for r in refs if r.key in found), None)
    candidate = person_id or uuid.uuid4().hex
    for ref in refs:
        if ref.key in found:
            continue
        owner = store.claim_identity(ref, candidate)
        if owner != candidate and person_id is None:
            candidate = owner  # lost the race for a new person: join the winner
        person_id = candidate
    return person_id or candidate


def link_identity(store: Store, person_id: str, ref: IdentityRef, attempts: int = 5) -> str:
    """Claim `ref` for the person and list it on their profile. Returns the identity's owner:
    another person when it was already theirs (a merge candidate, left to the identity graph)."""
    from ..store.base import VersionConflict

    owner = store.claim_identity(ref, person_id)
    if owner != person_id:
        return owner
    for _ in range(attempts):
        person, version = store.get_person_versioned(person_id)
        if person is None or any(r.key == ref.key for r in person.identities):
            return owner
        person.identities.append(ref)
        try:
            store.put_person(person, version)
            return owner
        except VersionConflict:
            continue
    raise VersionConflict(person_id)
