"""WebSub subscriptions Chorus holds (YouTube): what Chorus asked a hub for, and renewal.

W3C WebSub 5.3.1: the subscriber "MUST confirm that the hub.topic corresponds to a pending
subscription or unsubscription that it wishes to carry out ... If the subscriber does not agree
with the action, the subscriber MUST respond with a 404". Anyone can ask Google's hub to
unsubscribe a callback, so an unsubscribe is confirmed only when Chorus asked for it: each
request Chorus sends is recorded in the store first (its time, per connector and mode), and the
lease a confirmed subscription got. Leases lapse ("refresh each of your subscriptions
periodically, ideally just before hub.lease_seconds elapse"): `renew_websub(hub)` runs on a
schedule (app.py, and the local hub's job runner) and re-subscribes what is due.

Records are budget-store keys holding a moment; they only move forward, so "wanted" is the
later of the last subscribe and the last unsubscribe request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import SubscriptionNotWanted, UpstreamError
from .hub import Hub
from .providers.base import SubscriptionIntent

log = logging.getLogger("chorus_hub.websub")
PENDING_SECONDS = 3600  # a hub verifies within minutes; an intent older than this is not pending
MODES = ("subscribe", "unsubscribe")


@dataclass
class RenewalOutcome:
    renewed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _key(what: str, connector_id: str) -> str:
    return f"websub:{what}:{connector_id}"


def asked_at(hub: Hub, connector_id: str, mode: str) -> float:
    return hub.store.budget_blocked_until(_key(f"asked-{mode}", connector_id))


def lease_expires_at(hub: Hub, connector_id: str) -> float:
    return hub.store.budget_blocked_until(_key("lease", connector_id))


def confirm(hub: Hub, connector_id: str, intent: SubscriptionIntent, now: float | None = None) -> None:
    """Raise SubscriptionNotWanted (404) unless Chorus wants what the hub is verifying."""
    now = time.time() if now is None else now
    if intent.mode == "unsubscribe":
        asked = asked_at(hub, connector_id, "unsubscribe")
        if not (
            asked and now - asked <= PENDING_SECONDS and asked >= asked_at(hub, connector_id, "subscribe")
        ):
            raise SubscriptionNotWanted("Chorus did not ask to unsubscribe from this topic")
        return
    if asked_at(hub, connector_id, "unsubscribe") > asked_at(hub, connector_id, "subscribe"):
        raise SubscriptionNotWanted("Chorus unsubscribed from this topic and has not asked again")
    if intent.lease_seconds:
        hub.store.budget_block(_key("lease", connector_id), now + intent.lease_seconds)


def request(hub: Hub, connector: Any, mode: str, now: float | None = None) -> None:
    """Ask the connector's hub to (un)subscribe its callback; the intent is recorded first, since
    the hub may verify before it answers."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    options = connector.options
    if not options.callback_url or not options.channel_id:
        raise ValueError(f"{connector.id}: options.callback_url and options.channel_id are needed")
    now = time.time() if now is None else now
    hub.store.budget_block(_key(f"asked-{mode}", connector.id), now)
    form = {
        "hub.callback": options.callback_url,
        "hub.topic": options.topic(),
        "hub.mode": mode,
        "hub.verify": "async",
    }
    if mode == "subscribe":
        form["hub.lease_seconds"] = str(options.lease_seconds)
        if connector.has_secret("signing"):
            form["hub.secret"] = connector.secret("signing")
    response = hub.http.post(options.hub_url, data=form, timeout=10)
    if response.status_code not in (202, 204):
        raise UpstreamError(
            f"{connector.id}: the hub answered {response.status_code} to {mode}",
            retryable=response.status_code >= 500 or response.status_code == 429,
            status=response.status_code,
        )


def renew_websub(hub: Hub, now: float | None = None) -> RenewalOutcome:
    """Re-subscribe every WebSub connector whose lease ends within its renew_before_seconds
    (or that has no confirmed lease yet), unless Chorus unsubscribed it."""
    now = time.time() if now is None else now
    outcome = RenewalOutcome()
    for connector in hub.connectors.connectors.values():
        if not getattr(connector.options, "callback_url", None) or not connector.config.is_source:
            continue
        if asked_at(hub, connector.id, "unsubscribe") > asked_at(hub, connector.id, "subscribe"):
            continue
        if lease_expires_at(hub, connector.id) - now > connector.options.renew_before_seconds:
            continue
        if now - asked_at(hub, connector.id, "subscribe") < PENDING_SECONDS:
            continue  # asked within the hour: the hub's verification is still to come
        try:
            request(hub, connector, "subscribe", now)
            outcome.renewed.append(connector.id)
        except (UpstreamError, OSError) as exc:  # requests' errors are OSErrors
            outcome.failed[connector.id] = str(exc)
            log.warning("websub renewal failed", extra={"connector_id": connector.id})
    return outcome
