"""Admin API of the delivery log: GET /admin/deliveries and GET /admin/deliveries/{id}."""

from __future__ import annotations

import re
from typing import Any

from chalice import BadRequestError

from .admin import _limit
from .hub import Hub
from .pipeline.refusals import UNKNOWN_CONNECTOR
from .store.delivery_log import ACCEPTED_STATUSES, STATUSES
from .store.records import BadCursor

DELIVERY_ID = re.compile(r"^[0-9a-f]{32}$")


def _statuses(raw: str | None) -> tuple[str, ...] | None:
    """?status=refused, ?status=accepted (every status after an ack), or a comma list."""
    if not raw:
        return None
    wanted: list[str] = []
    for name in raw.split(","):
        name = name.strip()
        if name == "accepted":
            wanted += ACCEPTED_STATUSES
        elif name in STATUSES:
            wanted.append(name)
        else:
            raise BadRequestError(f"status must be accepted or one of {', '.join(STATUSES)}")
    return tuple(dict.fromkeys(wanted))


def list_deliveries(hub: Hub, query: dict[str, str]) -> dict[str, Any]:
    """Newest first; ?connector_id= one connector's (or `unknown`: requests to no connector),
    ?status= some statuses. A filtered page may be short: follow `next` until it is null."""
    limit = _limit(query)
    connector_id = query.get("connector_id") or None
    if connector_id and connector_id != UNKNOWN_CONNECTOR and hub.connectors.get(connector_id) is None:
        raise BadRequestError(f"no connector '{connector_id}'")
    statuses = _statuses(query.get("status"))
    if hub.refusals.pending:  # this process's own buffered refusals, so a console sees them now
        hub.refusals.flush(hub)
    try:
        records, nxt = hub.store.deliveries_page(connector_id, statuses, limit, query.get("next"))
    except BadCursor as exc:
        raise BadRequestError(str(exc)) from None
    return {"items": [r.summary() for r in records], "next": nxt}


def get_delivery(hub: Hub, delivery_id: str) -> dict[str, Any] | None:
    """One delivery: the request as logged (headers redacted) and its outcome chain."""
    if not DELIVERY_ID.match(delivery_id):
        return None
    if hub.refusals.pending:
        hub.refusals.flush(hub)
    record = hub.store.get_delivery(delivery_id)
    return record.document() if record else None
