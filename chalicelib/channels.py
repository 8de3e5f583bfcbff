"""Push channels a CRM expires: Chorus creates and renews them on a schedule.

Zoho CRM's notification channel lapses after one hour unless given an expiry, a week at most;
`renew_channels(hub)` re-subscribes every Zoho source connector that names its `notify_url` and
`channel_id`, six days ahead. It runs every 6 hours (app.py's scheduled handler on AWS, the job
table in chalicelib/jobs.py for `chorus serve`), so one missed run never lets a channel lapse.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .errors import ChorusError
from .hub import Hub
from .providers import get_source

log = logging.getLogger("chorus_hub.channels")


@dataclass
class ChannelRenewal:
    renewed: dict[str, str] = field(default_factory=dict)  # connector id -> expiry (ISO)
    failed: dict[str, str] = field(default_factory=dict)  # connector id -> reason


def renew_channels(hub: Hub) -> ChannelRenewal:
    """Renew each source's channel whose provider can (`watch_channel`) and is configured to."""
    outcome = ChannelRenewal()
    for connector in hub.connectors.connectors.values():
        if not connector.config.is_source:
            continue
        provider = get_source(connector.provider)
        watch = getattr(provider, "watch_channel", None)
        if watch is None or not getattr(connector.options, "notify_url", None):
            continue
        try:
            outcome.renewed[connector.id] = watch(connector, hub.http, hub.clock()).isoformat()
        except ChorusError as exc:  # one CRM's refusal never stops the others' renewals
            outcome.failed[connector.id] = str(exc)
            log.warning("channel renewal failed", extra={"connector_id": connector.id, "error": str(exc)})
    return outcome
