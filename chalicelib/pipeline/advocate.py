"""The advocate record a CRM receives, and whether a change is worth a sync."""

from __future__ import annotations

import hashlib
import json

from ..config.models import ScoringSettings
from ..schema import AdvocateRecord, Person

# Fields whose change always warrants a sync; the score alone only when it moves enough.
_RECORD_FIELDS = (
    "email",
    "advocate_tier",
    "latest_nps",
    "sentiment",
    "x_handle",
    "last_mention_url",
    "display_name",
    "latest_action",
    "latest_action_at",
)


def advocate_record(person: Person, crm_ids: dict[str, str] | None = None) -> AdvocateRecord:
    stats = person.stats
    changed_at = stats.last_interaction_at or person.updated_at
    return AdvocateRecord(
        person_id=person.person_id,
        email=person.email,
        display_name=person.display_name,
        advocate_score=int(round(person.advocate.score)),
        advocate_tier=person.advocate.tier,
        latest_nps=stats.latest_nps,
        sentiment=round(stats.sentiment_avg, 1) if stats.sentiment_avg is not None else None,
        x_handle=person.handles.get("x"),
        last_mention_url=stats.last_mention_url,
        last_interaction_at=stats.last_interaction_at,
        crm_ids=crm_ids or {},
        changed_at=changed_at,
        **_latest_action(person),
    )


def _latest_action(person: Person) -> dict:
    """The closed loop's newest action (pipeline/loop.py), for CRM workflows to act on."""
    action = person.latest_action
    if action is None:
        return {}
    return {
        "latest_action": action.kind,
        "latest_action_reason": action.reason,
        "latest_action_at": action.created_at,
    }


def record_hash(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:32]


def sync_worthy(
    before: Person | None, after: Person, settings: ScoringSettings, crm_namespaces: set[str]
) -> bool:
    """`crm_namespaces`: identity namespaces a sink can key a record on (its provider's ids)."""
    if after.email is None and not any(ref.namespace in crm_namespaces for ref in after.identities):
        # Nothing a CRM can key on yet; the sync happens once an email or CRM id is linked.
        return False
    if before is None:
        return True
    old, new = advocate_record(before), advocate_record(after)
    if any(getattr(old, f) != getattr(new, f) for f in _RECORD_FIELDS):
        return True
    return abs(before.advocate.score - after.advocate.score) >= settings.sync_score_delta
