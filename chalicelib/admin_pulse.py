"""Admin API of the brand pulse: GET /admin/pulse?from=&to=&interval=day|week."""

from __future__ import annotations

from typing import Any

from chalice import BadRequestError

from .hub import Hub
from .pipeline.pulse import PulseQuery, parse_query, pulse


def pulse_query(hub: Hub, query: dict[str, str]) -> PulseQuery:
    try:
        return parse_query(query, hub.clock().date())
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None


def get_pulse(hub: Hub, query: dict[str, str]) -> dict[str, Any]:
    return pulse(hub, pulse_query(hub, query))
