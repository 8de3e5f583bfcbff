"""Delivery log records: what is kept of a request (redacted), and each step of its outcome.

The ingest side builds a record for a refusal or a handshake (pipeline/refusals.py writes them);
for an accepted delivery it puts the same facts on the queue message (`delivery` of the
envelope) and the processing side writes the record, so the ack path writes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..providers.base import InboundRequest
from ..store.delivery_log import DeliveryRecord

if TYPE_CHECKING:
    from ..hub import Hub
    from .process import ProcessOutcome

log = logging.getLogger("chorus_hub.delivery_log")
DELIVERY_ID_HEADER = "X-Chorus-Delivery-Id"
REDACTED = "[redacted]"
# A header or query parameter whose name holds one of these is a credential or a signature
# (a valid signature with its body is a replayable delivery): its value is never logged.
SENSITIVE_WORDS = ("auth", "cookie", "token", "secret", "signature", "sig", "key", "hmac", "password", "code")
MAX_HEADERS, MAX_HEADER_CHARS = 64, 512
MAX_BODY_CHARS = 64 * 1024
MAX_DETAIL_CHARS = 300


def is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_WORDS)


def redact_headers(headers: dict[str, str] | Any) -> dict[str, str]:
    kept = {}
    for name, value in list(headers.items())[:MAX_HEADERS]:
        kept[name] = REDACTED if is_sensitive(name) else str(value)[:MAX_HEADER_CHARS]
    return kept


def logged_path(request: InboundRequest) -> str:
    """The path and query as logged: credential-like parameters redacted."""
    if not request.query:
        return request.path[:300]
    query = {k: REDACTED if is_sensitive(k) else v[:200] for k, v in request.query.items()}
    return f"{request.path[:300]}?{urlencode(query)}"


def request_note(request: InboundRequest, http_status: int) -> dict[str, Any]:
    """What an accepted delivery's queue message carries for its log record."""
    return {
        "http_status": http_status,
        "size": len(request.body),
        "path": logged_path(request),
        "headers": redact_headers(request.headers),
    }


def ingest_record(
    delivery_id: str,
    connector_id: str,
    request: InboundRequest,
    received_at: datetime,
    status: str,
    http_status: int,
    reason: str | None = None,
    detail: str | None = None,
) -> DeliveryRecord:
    """The record of a request answered at ingest (refused, or a handshake)."""
    return DeliveryRecord(
        delivery_id=delivery_id,
        connector_id=connector_id,
        received_at=received_at,
        status=status,
        http_status=http_status,
        method=request.method,
        path=logged_path(request),
        reason=reason,
        detail=(detail or "")[:MAX_DETAIL_CHARS] or None,
        size=len(request.body),
        content_type=request.content_type,
        headers=redact_headers(request.headers),
        chain=[{"status": status, "at": received_at.isoformat(), "http_status": http_status}],
    )


def _record_from_message(message: dict[str, Any]) -> DeliveryRecord | None:
    """The record of an accepted delivery, from its queue message (None for older messages
    or a message that is not a delivery)."""
    note = message.get("delivery")
    if not isinstance(note, dict) or not message.get("envelope_id"):
        return None
    received = message.get("received_at")
    try:
        received_at = datetime.fromisoformat(str(received).replace("Z", "+00:00"))
    except ValueError:
        return None
    return DeliveryRecord(
        delivery_id=str(message["envelope_id"]),
        connector_id=str(message.get("connector_id") or "unknown"),
        received_at=received_at,
        status="queued",
        http_status=int(note.get("http_status") or 200),
        method=str(message.get("method") or "POST"),
        path=str(note.get("path") or ""),
        size=int(note.get("size") or 0),
        content_type=str(message.get("content_type") or ""),
        headers=dict(note.get("headers") or {}),
    )


def record_step(hub: Hub, message: dict[str, Any], step: dict[str, Any], body: str | None = None) -> None:
    """Append a step to an accepted delivery's record (created on its first step). Never fails
    the processing it describes: a log write that fails is logged and skipped."""
    record = _record_from_message(message)
    if record is None:
        return
    record.body = body
    try:
        hub.store.record_delivery_step(
            record, {**step, "at": hub.clock().isoformat()}, hub.settings.delivery_log_days
        )
    except Exception as exc:
        log.warning(
            "could not write the delivery log",
            extra={"delivery_id": record.delivery_id, "error": type(exc).__name__},
        )


def record_processed(hub: Hub, message: dict[str, Any], outcome: ProcessOutcome) -> None:
    skipped = [s.reason for s in outcome.skipped]
    step = {
        "status": "processed",
        "interactions": [{"interaction_id": i, "person_id": p} for i, p in outcome.interactions],
        "duplicates": outcome.duplicates,
        "skipped": skipped,
        "sync_jobs": outcome.sync_jobs,
    }
    body = None
    if "erased" not in skipped and _keeps_bodies(hub, message):  # never an erased person's body
        body = _body_text(hub, message)
    record_step(hub, message, step, body)
    people = [p for _, p in outcome.interactions if p]
    if body is not None and people:
        try:
            hub.store.link_delivery_to_people(
                str(message["envelope_id"]), people, hub.settings.delivery_log_days
            )
        except Exception as exc:
            log.warning("could not link a logged body to its people", extra={"error": type(exc).__name__})


def _keeps_bodies(hub: Hub, message: dict[str, Any]) -> bool:
    connector = hub.connectors.get(str(message.get("connector_id")))
    return connector is not None and connector.config.log_bodies


def _body_text(hub: Hub, message: dict[str, Any]) -> str | None:
    from ..schema import Envelope
    from .ingest import envelope_body

    try:
        raw = envelope_body(hub, Envelope.model_validate(message))
    except Exception:  # a body that cannot be read is not logged
        return None
    return raw[:MAX_BODY_CHARS].decode("utf-8", errors="replace")
