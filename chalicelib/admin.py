"""Admin API queries. Every list is served by a key or an index, never a Scan, and pages:
`limit` (1-500, default 50) and `next`, an opaque cursor (made by the store, or by this module
around the store's for lists that span several) to pass back for the following page; `next` is
null on the last page.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from chalice import BadRequestError

from .hub import Hub
from .store import BadCursor

DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def _limit(query: dict[str, str]) -> int:
    raw = query.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequestError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


# ---- cursors ----------------------------------------------------------------------------------
def encode_cursor(value: dict[str, Any] | None) -> str | None:
    if not value:
        return None
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadRequestError("next is not a cursor this API returned") from None
    if not isinstance(value, dict):
        raise BadRequestError("next is not a cursor this API returned")
    return value


def _page(
    fetch: Callable[[str | None], tuple[list, str | None]], query: Mapping[str, str | None]
) -> tuple[list, str | None]:
    """Run one page query on the store's own cursor: one it did not hand out for this list (or
    another connector's) is a 400 rather than a wrong page or a 500."""
    try:
        return fetch(query.get("next") or None)
    except BadCursor as exc:
        raise BadRequestError(f"next is {exc}") from None


def _dump(items: list) -> list[dict[str, Any]]:
    return [i.model_dump(mode="json") for i in items]


# ---- people, interactions, advocates ----------------------------------------------------------
def list_interactions(hub: Hub, query: dict[str, str]) -> dict[str, Any]:
    """A connector's interactions newest first (gsi1), or a person's (their partition, by id)."""
    limit = _limit(query)
    person_id, connector_id = query.get("person_id"), query.get("connector_id")
    if person_id:
        items, nxt = _page(lambda c: hub.store.person_interactions_page(person_id, limit, c), query)
        if connector_id:  # a filter on one page: pages may be shorter than limit, follow `next`
            items = [i for i in items if i.connector_id == connector_id]
    elif connector_id:
        items, nxt = _page(lambda c: hub.store.connector_interactions_page(connector_id, limit, c), query)
    else:
        raise BadRequestError("give connector_id or person_id")
    return {"items": _dump(items), "next": nxt}


def list_advocates(hub: Hub, query: dict[str, str]) -> dict[str, Any]:
    raw = query.get("min_score", "0")
    try:
        min_score = float(raw)
    except ValueError:
        raise BadRequestError("min_score must be a number") from None
    limit = _limit(query)
    people, nxt = _page(lambda c: hub.store.advocates_page(min_score, limit, c), query)
    return {"items": _dump(people), "next": nxt}


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
    sinks = [c.id for c in hub.connectors.sinks()]
    states = hub.store.get_sync_states([(person_id, c) for c in sinks])
    document["sync_states"] = [
        {
            "connector_id": c,
            "crm_id": states[(person_id, c)].crm_id if (person_id, c) in states else None,
            "synced_at": _iso(states[(person_id, c)].synced_at) if (person_id, c) in states else None,
            "skipped_reason": states[(person_id, c)].skipped_reason if (person_id, c) in states else None,
        }
        for c in sinks
    ]
    document["merge_records"] = [
        r.model_dump(mode="json", exclude={"moved_identities", "evidence"}) for r in records if r is not None
    ]
    return document


def find_people(hub: Hub, query: dict[str, str]) -> dict[str, Any]:
    """People by identity: ?email=a@b.c, ?handle=x:maya_builds or ?identity=namespace:value.
    One BatchGetItem on the identity pointers ID#{namespace}#{value}, then the profile."""
    from .pipeline.identity import normalise_email
    from .schema import IdentityRef

    refs: list[IdentityRef] = []
    try:
        if query.get("email"):
            email = normalise_email(query["email"]) if "@" in query["email"] else None
            if not email:
                raise BadRequestError("email is not an email address")
            refs.append(IdentityRef(namespace="email", value=email))
        if query.get("handle"):
            provider, sep, handle = query["handle"].partition(":")
            if not sep or not provider or not handle:
                raise BadRequestError("handle must be provider:handle, e.g. x:maya_builds")
            refs.append(IdentityRef(namespace=f"{provider.lower()}_handle", value=handle.lstrip("@").lower()))
        if query.get("identity"):
            namespace, sep, value = query["identity"].partition(":")
            if not sep:
                raise BadRequestError("identity must be namespace:value, e.g. hubspot:1234")
            refs.append(IdentityRef(namespace=namespace, value=value))
    except ValueError as exc:  # pydantic: a namespace or value out of shape
        raise BadRequestError(
            f"not an identity: {exc.errors()[0]['msg'] if hasattr(exc, 'errors') else exc}"
        ) from None
    if not refs:
        raise BadRequestError("give email, handle (provider:handle) or identity (namespace:value)")
    _limit(query)
    found = hub.store.find_identities(refs)
    people = []
    for person_id in dict.fromkeys(found[r.key] for r in refs if r.key in found):
        person = hub.store.get_person(person_id)
        if person is not None:
            people.append(person)
    return {"items": _dump(people), "next": None}


# ---- connectors and dead letters --------------------------------------------------------------
def list_connectors(hub: Hub, query: dict[str, str]) -> dict[str, Any]:
    """Configured connectors by id, with their last delivery and rejections/skips by reason
    (one BatchGetItem on the C#{connector} STATS items of the page)."""
    limit = _limit(query)
    if hub.refusals.pending:  # this process's buffered refusal counts (pipeline/refusals.py)
        hub.refusals.flush(hub)
    cursor = decode_cursor(query.get("next")) or {}
    after = cursor.get("after", "")
    if not isinstance(after, str):
        raise BadRequestError("next is not a cursor this API returned")
    ids = [c for c in sorted(hub.connectors.connectors) if c > after]
    page = ids[:limit]
    stats = hub.store.connector_stats(page)
    items = []
    for cid in page:
        config = hub.connectors.connectors[cid].config
        counts = stats[cid]["counts"]
        items.append(
            {
                "id": cid,
                "provider": config.provider,
                "direction": config.direction,
                "last_delivery_at": stats[cid]["last_delivery_at"],
                "errors": {k: v for k, v in counts.items() if not k.startswith("skipped_")},
                "skipped": {
                    k.removeprefix("skipped_"): v for k, v in counts.items() if k.startswith("skipped_")
                },
                "listener": listener_health(hub, hub.connectors.connectors[cid]),
            }
        )
    nxt = encode_cursor({"after": page[-1]}) if len(ids) > limit else None
    return {"items": items, "next": nxt}


def listener_health(hub: Hub, connector) -> dict[str, Any] | None:
    """A listener's feeds as their cursors stand (one query of the connector's cursors), and the
    worst of them: the most `failures` in a row of any feed, the `last_error` of the feed that
    failed last, and `last_ok_at`, the oldest of the feeds' last finished runs (null while a feed
    never finished one). None for a connector that is not a listener."""
    from .pipeline.poll import feed_cursors, listener_of

    if listener_of(connector) is None or not connector.config.is_source:
        return None
    cursors = feed_cursors(hub, connector)  # [] when it has nothing to poll (no brand terms)
    failing = sorted(
        (c for c in cursors if c.failures),
        key=lambda c: c.last_run_at.timestamp() if c.last_run_at else 0.0,
    )
    oks = [c.last_ok_at for c in cursors if c.last_ok_at is not None]
    return {
        "failures": max((c.failures for c in cursors), default=0),
        "last_error": failing[-1].last_error if failing else None,
        "last_ok_at": _iso(min(oks)) if oks and len(oks) == len(cursors) else None,
        "feeds": [
            {
                "feed": c.feed,
                "last_run_at": _iso(c.last_run_at),
                "last_ok_at": _iso(c.last_ok_at),
                "failures": c.failures,
                "last_error": c.last_error,
            }
            for c in cursors
        ],
    }


def list_dead_letters(hub: Hub, query: dict[str, str]) -> dict[str, Any]:
    """Dead letters oldest first, one connector's (?connector_id=) or every connector's in turn.
    Raw bodies are not listed (their size is); GET /admin/people/{id}/export shows a person's."""
    from .deadletters import connector_ids

    limit = _limit(query)
    cursor = decode_cursor(query.get("next")) or {}
    order = connector_ids(hub, query.get("connector_id"))
    current = cursor.get("c", order[0])
    if current not in order:
        raise BadRequestError("next is not a cursor for this list")
    start = cursor.get("k")  # the store's own cursor within connector `c`
    if start is not None and not isinstance(start, str):
        raise BadRequestError("next is not a cursor this API returned")
    items: list[dict[str, Any]] = []
    nxt: dict[str, str | None] | None = None
    for cid in order[order.index(current) :]:
        letters, last = _page(
            lambda c: hub.store.dead_letters_page(cid, limit - len(items), c), {"next": start}
        )
        items += [_letter_summary(d) for d in letters]
        start = None
        if last:
            nxt = {"c": cid, "k": last}
            break
        if len(items) >= limit:
            following = order[order.index(cid) + 1 :]
            nxt = {"c": following[0], "k": None} if following else None
            break
    return {"items": items, "next": encode_cursor(nxt)}


def _letter_summary(letter) -> dict[str, Any]:
    message = dict(letter.message)
    body = message.pop("body_b64", None)
    if body is not None:
        message["body_bytes"] = len(base64.b64decode(body))
    message.pop("raw", None)
    return {**asdict(letter), "created_at": letter.created_at.isoformat(), "message": message}


def replay_dead_letters(hub: Hub, query: dict[str, str]) -> dict[str, Any]:
    from .deadletters import replay

    result = replay(hub, query.get("connector_id") or None, _limit(query) if "limit" in query else 1000)
    return {"replayed": result.replayed, "kept": result.kept}


# ---- closed loop ------------------------------------------------------------------------------
def list_actions(hub: Hub, query: dict[str, str]) -> dict[str, Any]:
    """Every closed-loop action newest first, or one person's (?person_id=)."""
    limit = _limit(query)
    person_id = query.get("person_id") or None
    actions, nxt = _page(lambda c: hub.store.actions_page(person_id, limit, c), query)
    return {"items": _dump(actions), "next": nxt}


# ---- identity graph -------------------------------------------------------------------------
def undo_merge(hub: Hub, merge_id: str):
    """POST /admin/merges/{id}/undo: pipeline/merge.py's unmerge; 404 unknown, 409 cannot."""
    from chalice import Response

    from .pipeline.merge import CannotUnmerge, UnknownMerge, unmerge

    try:
        return unmerge(hub, merge_id).model_dump(mode="json")
    except (UnknownMerge, CannotUnmerge) as exc:
        return Response(body={"error": exc.reason, "message": str(exc)}, status_code=exc.status)


# ---- privacy ----------------------------------------------------------------------------------
def erase_person(hub: Hub, person_id: str) -> dict[str, Any] | None:
    from .privacy import erase_person as erase

    report = erase(hub, person_id)
    return asdict(report) if report else None


def export_person(hub: Hub, person_id: str) -> dict[str, Any] | None:
    from .privacy import export_person as export

    return export(hub, person_id)


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None
