"""Identity resolution: find or create the Person who owns an author's identities.

Every identity a delivery vouches for becomes an IdentityLink with its evidence and a
confidence (settings.yaml `identity.confidence`). A delivery claims its unowned identities
all at once (one conditional write or transaction), so concurrent deliveries for one new
person end up on one Person: a loser of the race resolves again and joins the winner. When a
delivery's identities belong to two different Persons, the Resolution names the other ones as
ties; pipeline/merge.py merges those tied at or above `identity.merge_threshold` and keeps the
rest as suggestions.

Emails and phones are normalised before matching (`normalise_email`, `normalise_phone`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from ..config.loader import ConnectorSet
from ..config.models import IdentitySettings
from ..schema import IdentityLink, IdentityRef, Interaction, Person, utcnow
from ..store.base import Store

# Mailbox providers that document address equivalence. Keep this table small and sourced:
# Google Mail Help "Dots don't matter in Gmail addresses" (answer 7436150) and
# "Create task-specific email addresses" (+ tags, answer 12096); googlemail.com is Gmail.
EMAIL_RULES: dict[str, dict] = {
    "gmail.com": {"drop_dots": True, "drop_plus_tag": True, "domain": "gmail.com"},
    "googlemail.com": {"drop_dots": True, "drop_plus_tag": True, "domain": "gmail.com"},
}
RESOLVE_ATTEMPTS = 5
MERGE_CHAIN_MAX = 10
# Validating an address or number takes ~20-40 us; one delivery normalises the same ones twice
# (author_identities, then author_links) and authors come back, so the answers are kept.
NORMALISED_CACHE_SIZE = 4096


@lru_cache(maxsize=NORMALISED_CACHE_SIZE)
def normalise_email(email: str) -> str | None:
    """The address to match on, or None when it is not a valid address.

    >>> normalise_email(" Maya.Chen+news@GoogleMail.com ")
    'mayachen@gmail.com'
    """
    from email_validator import EmailNotValidError, validate_email

    try:
        valid = validate_email(email.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError:
        return None
    local, domain = valid.local_part.lower(), valid.domain.lower()
    rule = EMAIL_RULES.get(domain)
    if rule:
        if rule["drop_plus_tag"]:
            local = local.split("+", 1)[0]
        if rule["drop_dots"]:
            local = local.replace(".", "")
        domain = rule["domain"]
    return f"{local}@{domain}" if local else None


def typed_email(email: str | None) -> str | None:
    """The address as the person typed it, which is what a CRM receives: trimmed, the domain
    lower-cased (domains are case-insensitive; local parts may not be), nothing else changed.
    None when it is not a valid address. The normalised form is an identity match key only.

    >>> typed_email(" Maya.Chen+beta@GMail.com ")
    'Maya.Chen+beta@gmail.com'
    """
    if not email:
        return None
    email = str(email).strip()
    if normalise_email(email) is None:
        return None
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


@lru_cache(maxsize=NORMALISED_CACHE_SIZE)
def normalise_phone(phone: str, default_region: str | None) -> str | None:
    """E.164 (`+14155552671`), or None when it is not a possible number. Numbers without a
    +country code need `identity.default_phone_region`."""
    import phonenumbers

    try:
        number = phonenumbers.parse(phone, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _normalise(namespace: str, value: str, settings: IdentitySettings) -> str | None:
    value = str(value).strip()
    if namespace == "email":
        return normalise_email(value)
    if namespace == "phone":
        return normalise_phone(value, settings.default_phone_region)
    if namespace.endswith("_handle"):
        value = value.lstrip("@").lower()
    return value or None


@lru_cache(maxsize=64)
def _namespace(provider: str) -> str:
    """The identity namespace of a provider's user ids: its name unless it declares another
    (`hn:`, `bsky:`); a provider no longer registered keeps its name."""
    from ..providers import REGISTRY, get_provider

    if provider not in REGISTRY:
        return provider
    return get_provider(provider).identity_namespace or provider


def _identities(
    interaction: Interaction, settings: IdentitySettings, crm_namespaces: Collection[str]
) -> Iterator[tuple[str, str, str]]:
    """(namespace, normalised value, evidence) of every usable identity the delivery names."""
    author = interaction.author
    candidates: list[tuple[str, str | None, str]] = [
        ("email", author.email, "same_email"),
        ("phone", author.phone, "same_phone"),
        (_namespace(interaction.provider), author.provider_user_id, "provider_verified"),
        (f"{_namespace(interaction.provider)}_handle", author.handle, "provider_verified"),
    ]
    for link in interaction.links:
        evidence = (
            "same_email"
            if link.namespace == "email"
            else "same_phone"
            if link.namespace == "phone"
            else "crm_property"
            if link.namespace in crm_namespaces
            else "hidden_field"
        )
        candidates.append((link.namespace, link.value, evidence))
    for namespace, raw, evidence in candidates:
        if not raw:
            continue
        value = _normalise(namespace, raw, settings)
        if value is not None and len(value) <= 512:
            yield namespace, value, evidence


def author_links(
    interaction: Interaction,
    settings: IdentitySettings | None = None,
    crm_namespaces: Collection[str] = frozenset(),
    now: datetime | None = None,
) -> list[IdentityLink]:
    """Every identity the delivery vouches for, with evidence and confidence.

    crm_namespaces: identity namespaces that are CRM record ids (the sink providers'), so a
    hidden field carrying one is `crm_property` evidence rather than `hidden_field`.
    """
    settings = settings or IdentitySettings()
    confidence = settings.confidence
    seen = now or interaction.received_at or utcnow()
    links: dict[str, IdentityLink] = {}
    for namespace, value, evidence in _identities(interaction, settings, crm_namespaces):
        link = IdentityLink(
            namespace=namespace,
            value=value,
            evidence=evidence,
            confidence=getattr(confidence, evidence),
            source_connector=interaction.connector_id,
            first_seen=seen,
        )
        if link.key not in links or links[link.key].confidence < link.confidence:
            links[link.key] = link
    return list(links.values())


def crm_namespaces(connectors: ConnectorSet) -> frozenset[str]:
    """Identity namespaces that are CRM record ids: the configured providers that can be sinks."""
    return _sink_providers(frozenset(c.provider for c in connectors.connectors.values()))


@lru_cache(maxsize=16)
def _sink_providers(providers: frozenset[str]) -> frozenset[str]:
    from ..providers import roles

    return frozenset(p for p in providers if "sink" in roles(p))


def author_identities(
    interaction: Interaction, settings: IdentitySettings | None = None
) -> list[IdentityRef]:
    """The identities alone (namespace and normalised value), in author_links' order."""
    refs: dict[str, IdentityRef] = {}
    for namespace, value, _ in _identities(interaction, settings or IdentitySettings(), frozenset()):
        ref = IdentityRef(namespace=namespace, value=value)
        refs.setdefault(ref.key, ref)
    return list(refs.values())


@dataclass
class Tie:
    """Another person this delivery's identities point at, and how strongly."""

    person_id: str
    confidence: float
    evidence: list[IdentityLink] = field(default_factory=list)


@dataclass
class Resolution:
    person_id: str
    owned: list[IdentityLink]  # the links that are now this person's (claimed or found)
    ties: list[Tie] = field(default_factory=list)
    strength: float = 1.0  # how strongly the delivery is this person's (weakest link of the path)
    new: bool = False


def current_owner(store: Store, person_id: str) -> str:
    """Follow merged_into pointers to the person who owns everything now."""
    for _ in range(MERGE_CHAIN_MAX):
        person = store.get_person(person_id)
        if person is None or not person.merged_into:
            return person_id
        person_id = person.merged_into
    return person_id


def resolve_links(store: Store, links: list[IdentityLink], anonymous_key: str) -> Resolution:
    """The person owning `links`, claiming the ones nobody owns yet; other owners become ties.

    The person is the owner reached with the highest confidence (a link's confidence capped by
    the stored claim's), the oldest-claimed first on a tie; new identities are claimed for it
    with the confidence of that path. Nobody owns any: a new person (a uuid). The unclaimed ones
    are claimed all at once or not at all, so of deliveries that meet on a new identity only
    one wins; the others resolve again and join it, as if they had come one after the other.
    """
    if not links:
        # No identity at all (an anonymous survey): a person of its own, stable across retries.
        return Resolution("anon-" + hashlib.sha256(anonymous_key.encode()).hexdigest()[:24], [], new=True)
    for _ in range(RESOLVE_ATTEMPTS):
        found = store.find_identity_links(links)
        owners: dict[str, Tie] = {}
        for link in links:
            if link.key not in found:
                continue
            owner_id, stored_confidence = found[link.key]
            owner_id = current_owner(store, owner_id)
            strength = min(link.confidence, stored_confidence)
            tie = owners.setdefault(owner_id, Tie(owner_id, 0.0))
            tie.confidence = max(tie.confidence, strength)
            tie.evidence.append(link.model_copy(update={"confidence": strength}))
        unclaimed = [link for link in links if link.key not in found]
        if owners:
            best = max(owners.values(), key=lambda t: t.confidence)  # dicts keep order: first wins ties
            person_id, strength, new = best.person_id, best.confidence, False
        else:
            person_id, strength, new = uuid.uuid4().hex, 1.0, True
        owned = [link for tie in owners.values() if tie.person_id == person_id for link in tie.evidence]
        via = None if new else next((o.key for o in owned), None)
        claims = [
            link.model_copy(update={"confidence": min(link.confidence, strength), "via": via})
            for link in unclaimed
        ]
        # All or none: a new person half-claimed by two deliveries that met would stay two people.
        if claims and not store.claim_identity_links(claims, person_id):
            continue  # someone claimed one meanwhile: resolve again with the new facts
        owned += claims
        ties = [t for t in owners.values() if t.person_id != person_id]
        return Resolution(person_id, owned, ties, strength, new)
    raise RuntimeError("identities kept changing while resolving; the message will be retried")


def resolve_person(store: Store, refs: list[IdentityRef], anonymous_key: str) -> str:
    """The person id owning `refs` (provider-verified evidence); see resolve_links."""
    now = utcnow()
    links = [
        IdentityLink(
            namespace=r.namespace, value=r.value, evidence="provider_verified", confidence=1.0, first_seen=now
        )
        for r in refs
    ]
    return resolve_links(store, links, anonymous_key).person_id


def link_identity(
    store: Store,
    person_id: str,
    ref: IdentityRef,
    evidence: str = "crm_property",
    confidence: float = 1.0,
    source_connector: str | None = None,
) -> str:
    """Claim `ref` for the person and list it on their profile. Returns the identity's owner:
    another person when it was already theirs (a merge candidate, left to the identity graph)."""
    from .person_write import update_person

    link = IdentityLink(
        namespace=ref.namespace,
        value=ref.value,
        evidence=evidence,
        confidence=confidence,
        source_connector=source_connector,
        first_seen=utcnow(),
    )
    owner = store.claim_identity_link(link, person_id)
    if owner != person_id:
        return owner

    def add(person: Person | None) -> Person | None:
        if person is None or any(r.key == ref.key for r in person.identities):
            return None
        person.identities.append(ref)
        person.links.append(link)
        return person

    update_person(store, person_id, add)
    return owner
