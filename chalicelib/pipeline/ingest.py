"""Webhook ingest: the only work done while a provider waits for its answer.

Look up the connector, answer a handshake, check size and content type, verify the
signature on the raw bytes, check the body is well-formed, write one queue message,
acknowledge in the provider's form. Nothing else: X and Slack give up after ~3 s.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

from ..errors import ChorusError, MethodNotAllowed, PayloadTooLarge, UnknownConnector, UnsupportedContentType
from ..hub import Hub
from ..providers import get_source
from ..providers.base import InboundRequest, WebResponse
from ..schema import Envelope
from .delivery_log import DELIVERY_ID_HEADER, ingest_record, request_note
from .refusals import UNKNOWN_CONNECTOR

log = logging.getLogger("chorus_hub.ingest")

# Headers never written to the queue, even if a provider lists one in kept_headers: credentials
# some providers send instead of a signature.
SECRET_HEADERS = frozenset({"authorization", "cookie", "x-api-key", "proxy-authorization"})
# An SQS message holds 256 KiB; leave room for the envelope's own fields and base64 growth.
INLINE_BODY_MAX = 150 * 1024
# Query parameters never written to the queue: URL tokens of providers that sign nothing.
SECRET_QUERY_PARAMS = frozenset({"token", "code"})  # code: Dataverse WebhookKey
SERVER_FAULT_MESSAGE = "the hub cannot take deliveries for this connector right now; retry later"


def receive_webhook(hub: Hub, connector_id: str, request: InboundRequest) -> WebResponse:
    """Answer one webhook request. Every answer carries a delivery id (header, and the body when
    it is Chorus's own JSON); errors become honest statuses, counted by reason in memory."""
    delivery_id = os.urandom(16).hex()
    try:
        answer, queued = _receive(hub, connector_id, request, delivery_id)
    except ChorusError as exc:
        known = hub.connectors.get(connector_id) is not None
        record = ingest_record(
            delivery_id,
            connector_id if known else UNKNOWN_CONNECTOR,
            request,
            hub.clock(),
            "refused",
            exc.status,
            exc.reason,
            str(exc),
        )
        hub.refusals.refused(hub, record, counted=known and not isinstance(exc, UnknownConnector))
        if exc.status >= 500:
            # the operator's fault, not the caller's: the detail (a secret's reference, say) is
            # for the log; an unauthenticated caller learns only that it may retry
            log.warning(
                "webhook failed",
                extra={
                    "connector_id": connector_id,
                    "reason": exc.reason,
                    "status": exc.status,
                    "detail": str(exc),
                },
            )
            return WebResponse(
                exc.status,
                {"error": exc.reason, "message": SERVER_FAULT_MESSAGE, "delivery_id": delivery_id},
                {DELIVERY_ID_HEADER: delivery_id},
            )
        log.info(
            "webhook rejected",
            extra={
                "connector_id": connector_id if known else UNKNOWN_CONNECTOR,
                "reason": exc.reason,
                "status": exc.status,
                "delivery_id": delivery_id,
            },
        )
        return WebResponse(
            exc.status,
            {"error": exc.reason, "message": str(exc), "delivery_id": delivery_id},
            {DELIVERY_ID_HEADER: delivery_id},
        )
    if queued:
        if isinstance(answer.body, dict):  # Chorus's own ack; a provider's own format stays as it is
            answer.body = {**answer.body, "delivery_id": delivery_id}
        # nothing else: buffered refusals are flushed by a timer or a refused request (refusals.py)
    else:
        hub.refusals.answered(
            hub, ingest_record(delivery_id, connector_id, request, hub.clock(), "answered", answer.status)
        )
    answer.headers = {**answer.headers, DELIVERY_ID_HEADER: delivery_id}
    return answer


def _receive(
    hub: Hub, connector_id: str, request: InboundRequest, delivery_id: str
) -> tuple[WebResponse, bool]:
    """(the answer, whether a delivery was queued)."""
    connector = hub.connectors.get(connector_id)
    if connector is None or not connector.config.is_source:
        raise UnknownConnector(f"no source connector '{connector_id}'")
    provider = get_source(connector.provider)
    if request.method in ("GET", "HEAD"):
        if request.method in provider.handshake_methods:
            answer = provider.handshake(request, connector)
            if answer is not None:
                if answer.confirms is not None:  # WebSub: only what Chorus itself asked for
                    from ..websub import confirm

                    confirm(hub, connector_id, answer.confirms)
                return answer, False
        raise MethodNotAllowed(
            f"{request.method} is not a handshake this provider uses; deliveries are POSTed"
        )
    if request.method != "POST":
        raise MethodNotAllowed(f"{request.method} is not accepted")
    if len(request.body) > hub.settings.max_body_bytes:
        raise PayloadTooLarge(
            f"body is {len(request.body)} bytes; the limit is {hub.settings.max_body_bytes}"
        )
    if request.content_type not in provider.content_types:
        raise UnsupportedContentType(
            f"content type '{request.content_type or '(none)'}' is not one of {', '.join(provider.content_types)}"
        )
    provider.verify(request, connector, time.time())
    if "POST" in provider.handshake_methods:
        answer = provider.handshake(request, connector)
        if answer is not None:
            return answer, False
    provider.check_body(request)
    answer = provider.acknowledge(request, connector)
    body = provider.queued_body(request, connector)
    if body is not request.body:
        request = InboundRequest(
            request.method, request.url, request.path, request.headers, request.query, body
        )
    envelope = build_envelope(
        hub, connector_id, connector.provider, request, provider.kept_headers, delivery_id
    )
    envelope["delivery"] = request_note(request, answer.status)
    hub.ingest_queue.send(envelope)
    return answer, True


def build_envelope(
    hub: Hub,
    connector_id: str,
    provider: str,
    request: InboundRequest,
    kept_headers: tuple[str, ...],
    envelope_id: str | None = None,
) -> dict:
    """The queue message: an Envelope in its JSON form, written directly. Building and dumping
    the model cost more than verifying the signature; the worker validates the message as an
    Envelope, and tests/test_ingest.py holds this dict to that model."""
    envelope_id = envelope_id or os.urandom(16).hex()  # the delivery id
    query, url = dict(request.query), request.url
    if SECRET_QUERY_PARAMS & query.keys():
        query = {k: v for k, v in query.items() if k not in SECRET_QUERY_PARAMS}
        url = url.split("?", 1)[0] + ("?" + urlencode(query) if query else "")
    body_b64 = body_ref = None
    if len(request.body) <= INLINE_BODY_MAX:
        body_b64 = binascii.b2a_base64(request.body, newline=False).decode("ascii")
    else:
        body_ref = hub.blobs.put(f"deliveries/{connector_id}/{envelope_id}", request.body)
    return {
        "envelope_id": envelope_id,
        "connector_id": connector_id,
        "provider": provider,
        "received_at": _utc_iso(hub.clock()),
        "method": request.method,
        "url": url,
        "content_type": request.content_type,
        "headers": {
            k: v
            for k, v in request.headers.items()
            if (k in kept_headers or k.startswith("content-")) and k not in SECRET_HEADERS
        },
        "query": query,
        "body_b64": body_b64,
        "body_ref": body_ref,
    }


def _utc_iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as pydantic writes an Envelope's received_at."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            raise ValueError("the hub clock must return timezone-aware datetimes")
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat() + "Z"  # a naive isoformat is half the cost


def envelope_body(hub: Hub, envelope: Envelope) -> bytes:
    if envelope.body_ref:
        return hub.blobs.get(envelope.body_ref)
    return base64.b64decode(envelope.body_b64 or "")
