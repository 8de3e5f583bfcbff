"""Admin API queries. Every list is served by a key or an index, never a Scan."""
from __future__ import annotations

from typing import Any

from chalice import BadRequestError

from .hub import Hub

DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def _limit(query: dict[str, str]) -> int:
    raw = query.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequestError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def list_interactions(hub: Hub, query: dict[str, str]) -> dict[str, Any]:
    limit = _limit(query)
    person_id, connector_id = query.get("person_id"), query.get("connector_id")
    if person_id:
        items = hub.store.person_interactions(person_id)
        if connector_id:
            items = [i for i in items if i.connector_id == connector_id]
        items = sorted(items, key=lambda i: i.occurred_at, reverse=True)[:limit]
    elif connector_id:
        items = hub.store.connector_interactions(connector_id, limit)
    else:
        raise BadRequestError("give connector_id or person_id")
    return {"items": [i.model_dump(mode="json") for i in items]}


def list_advocates(hub: Hub, query: dict[str, str]) -> dict[str, Any]:
    raw = query.get("min_score", "0")
    try:
        min_score = float(raw)
    except ValueError:
        raise BadRequestError("min_score must be a number") from None
    people = hub.store.advocates(min_score, _limit(query))
    return {"items": [p.model_dump(mode="json") for p in people]}


def get_person(hub: Hub, person_id: str) -> dict[str, Any] | None:
    """The person, plus `explanation` (each score component, its inputs and the interactions
    behind it) and `merge_records` (what each merge they took part in moved)."""
    from .pipeline.scoring import explain_score

    person = hub.store.get_person(person_id)
    if person is None:
        return None
    document = person.model_dump(mode="json")
    document["explanation"] = explain_score(person, hub.store.person_interactions(person_id))
    records = [hub.store.get_merge(merge_id) for merge_id in person.merges]
    document["merge_records"] = [r.model_dump(mode="json", exclude={"moved_identities", "evidence"})
                                 for r in records if r is not None]
    return document
