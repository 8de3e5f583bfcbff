"""Generic signed sink: POST each advocate record to any URL, signed with Standard Webhooks.

One record per request (receivers get one small, independently retryable message, and the
id names exactly one record version). Headers, per https://www.standardwebhooks.com/:
- `webhook-id`: "msg_" + a hash of (connector, person, record content), the same on every
  retry of that record version, so receivers de-duplicate on it;
- `webhook-timestamp`: Unix seconds at sending;
- `webhook-signature`: "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one entry per secret,
  space-separated: secrets.signing (whsec_...) and, during key rotation,
  secrets.signing_previous.
Body: {"type": "advocate.updated", "timestamp": ISO, "data": {"person_id", "email", properties}}.
2xx is success; 408/429/5xx and timeouts are retried; other 4xx are permanent (dead letter).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import UpstreamError
from ..schema import AdvocateRecord
from .base import SinkResult
from .crm_common import CreateClaims, canonical_map
from .http import call_api
from .signatures import sign_standard_webhooks, standard_webhooks_key
from .sink import Sink


class WebhookSinkOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(
        pattern=r"^https://|^http://(localhost|127\.0\.0\.1)(:\d+)?/",
        description="Receiver URL (HTTPS; plain HTTP only for localhost).",
    )
    event_type: str = "advocate.updated"


class WebhookSinkProvider(Sink):
    name = "webhook"
    Options = WebhookSinkOptions
    batch_max = 20
    required_secrets = {"signing": "sink"}
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
        results = []
        for record in records:
            try:
                results.append(self._send(record, connector, http, secrets))
            except UpstreamError as exc:
                results.append(
                    SinkResult(record.person_id, ok=False, error=str(exc), retryable=exc.retryable)
                )
        return results

    def _send(self, record: AdvocateRecord, connector, http, secrets: list[str]) -> SinkResult:
        properties = self.properties_for(record, connector)
        data = {"person_id": record.person_id, "email": record.email, **properties}
        msg_id = message_id(connector.id, data)
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
        if 200 <= response.status_code < 300:
            return SinkResult(record.person_id, ok=True, crm_id=None, written=canonical_map(properties))
        return SinkResult(
            record.person_id,
            ok=False,
            retryable=False,
            error=f"receiver answered HTTP {response.status_code}: {response.text[:200]}",
        )


def message_id(connector_id: str, data: dict[str, Any]) -> str:
    """Stable per record version: the same content through the same connector, the same id."""
    digest = hashlib.sha256(
        json.dumps([connector_id, data], sort_keys=True, default=str).encode()
    ).hexdigest()
    return "msg_" + digest[:32]
