"""Generic signed sink: POST each advocate record to any URL, signed with Standard Webhooks.

One record per request (receivers get one small, independently retryable message, and the
id names exactly one event). Headers, per https://www.standardwebhooks.com/:
- `webhook-id`: "msg_" + a hash of (connector, person, the record's change time, its content):
  the same on every retry of one event, and a new one for every change, so a score going
  71 -> 72 -> 71 is three events a receiver de-duplicating on the id keeps all of;
- `webhook-timestamp`: Unix seconds at sending;
- `webhook-signature`: "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one entry per secret,
  space-separated: secrets.signing (whsec_...) and, during key rotation,
  secrets.signing_previous.
Body: {"type": "advocate.updated", "timestamp": ISO, "data": {"person_id", "email", properties}}.
Delivery, per the spec's "Delivery success and failure": 2xx is success; a 3xx is a failure
(redirects are never followed: the receiver's URL is to be updated); 410 Gone is permanent and
rests the endpoint for a day (the receiver asked to stop); 429 parks the receiver for its
Retry-After; other failures (timeouts, 5xx, other 4xx) are retried on the spec's example
schedule, RETRY_SCHEDULE (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h: ~3 days), then
dead-lettered (replayable).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..schema import AdvocateRecord
from .base import SinkResult
from .crm_common import CreateClaims, canonical_map, upsert_each
from .http import Throttle, call_api
from .signatures import sign_standard_webhooks, standard_webhooks_key
from .sink import Sink


class WebhookSinkOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(
        pattern=r"^https://|^http://(localhost|127\.0\.0\.1)(:\d+)?/",
        description="Receiver URL (HTTPS; plain HTTP only for localhost).",
    )
    event_type: str = "advocate.updated"


# The Standard Webhooks spec's example schedule: the delay before each retry after the first try.
RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 50400.0, 72000.0, 86400.0)
GONE_REST_SECONDS = 86400.0


class WebhookThrottle(Throttle):
    def exhausted(self, response, connector) -> float | None:
        """410 Gone: the receiver wants no more; no call for a day (the record dead-letters)."""
        return GONE_REST_SECONDS if response.status_code == 410 else None


class WebhookSinkProvider(Sink):
    name = "webhook"
    Options = WebhookSinkOptions
    batch_max = 20
    required_secrets = {"signing": "sink"}
    throttle = WebhookThrottle()
    retry_schedule = RETRY_SCHEDULE
    default_mapping = {
        f: f for f in AdvocateRecord.model_fields if f not in ("person_id", "email", "crm_ids", "changed_at")
    }

    def validate_config(self, config, options) -> list[tuple[str, str]]:
        return []  # whsec_ format is checked when the secret is resolved (it is a reference here)

    def upsert(
        self, records: list[AdvocateRecord], connector, http, claims: CreateClaims | None = None
    ) -> list[SinkResult]:
        secrets = [connector.secret("signing")]
        if connector.has_secret("signing_previous"):
            secrets.append(connector.secret("signing_previous"))
        for secret in secrets:
            standard_webhooks_key(secret)  # a malformed secret fails loudly, before any send
        return upsert_each(records, lambda record: self._send(record, connector, http, secrets))

    def _send(self, record: AdvocateRecord, connector, http, secrets: list[str]) -> SinkResult:
        properties = self.properties_for(record, connector)
        data = {"person_id": record.person_id, "email": record.email, **properties}
        msg_id = message_id(connector.id, record.changed_at.isoformat(), data)
        body = json.dumps(
            {"type": connector.options.event_type, "timestamp": record.changed_at.isoformat(), "data": data},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        timestamp = int(time.time())
        response = call_api(
            http,
            "POST",
            connector.options.url,
            data=body,
            headers={
                "Content-Type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": " ".join(
                    sign_standard_webhooks(msg_id, timestamp, body, s) for s in secrets
                ),
            },
        )
        status = response.status_code
        if 200 <= status < 300:
            return SinkResult(record.person_id, ok=True, crm_id=None, written=canonical_map(properties))
        if 300 <= status < 400:
            detail = f"redirect to {response.headers.get('Location', '?')} not followed: update the URL"
        else:
            detail = response.text[:200]
        return SinkResult(
            record.person_id,
            ok=False,
            retryable=status != 410,
            error=f"receiver answered HTTP {status}: {detail}",
        )


def message_id(connector_id: str, changed_at: str, data: dict[str, Any]) -> str:
    """One id per event: the same record version through the same connector, the same id."""
    digest = hashlib.sha256(
        json.dumps([connector_id, changed_at, data], sort_keys=True, default=str).encode()
    ).hexdigest()
    return "msg_" + digest[:32]
