"""The ingest step on its own: the queue message it writes for every sample is a valid Envelope,
holds no credential, and the body checks done while the provider waits stay strict."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest

from tests.support.samples import HOST, available_samples

SAMPLES = available_samples()


class CapturingQueue:
    def __init__(self):
        self.messages: list[dict] = []

    def send(self, message: dict) -> None:
        self.messages.append(message)


@pytest.fixture
def captured(hub):
    hub.ingest_queue = CapturingQueue()
    return hub


def inbound(sample, body: bytes | None = None, headers: dict | None = None):
    from chalicelib.providers.base import InboundRequest

    _, sent_headers, body = sample.request(time.time(), body=body)
    _, query = sample.sign(body, HOST + sample.path, time.time())
    return InboundRequest(
        "POST",
        HOST + sample.path + ("?" + urlencode(query) if query else ""),
        sample.path,
        {k.lower(): v for k, v in {**sent_headers, **(headers or {})}.items()},
        query,
        body,
    )


def receive(hub, sample, **kwargs):
    from chalicelib.pipeline.ingest import receive_webhook

    return receive_webhook(hub, sample.connector_id, inbound(sample, **kwargs))


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.connector_id for s in SAMPLES])
def test_the_message_written_at_ingest_is_a_valid_envelope(sample, captured):
    """The message is written as a dict, not through the model: it must be exactly what
    Envelope would have written, and carry the body byte for byte."""
    from chalicelib.pipeline.ingest import envelope_body
    from chalicelib.schema import Envelope

    assert receive(captured, sample).status == 200
    [message] = captured.ingest_queue.messages
    envelope = Envelope.model_validate(json.loads(json.dumps(message)))
    assert envelope.model_dump(mode="json") == message
    body = envelope_body(captured, envelope)
    if sample.provider == "zoho":  # the channel token is verified at ingest, then not queued
        assert json.loads(body) == {k: v for k, v in json.loads(sample.body).items() if k != "token"}
    else:
        assert body == sample.body
    assert envelope.connector_id == sample.connector_id and envelope.provider == sample.provider
    assert abs((envelope.received_at - datetime.now(UTC)).total_seconds()) < 60
    assert "token" not in envelope.query and "token=" not in envelope.url and "code=" not in envelope.url
    assert not {"authorization", "cookie", "x-api-key"} & envelope.headers.keys()


def test_envelope_ids_differ_and_received_at_is_utc_whatever_the_clock_zone(captured):
    sample = next(s for s in SAMPLES if s.provider == "typeform")
    instant = datetime(2026, 3, 1, 12, 30, 0, 250, tzinfo=timezone(timedelta(hours=2)))
    captured.clock = lambda: instant
    for _ in range(2):
        assert receive(captured, sample).status == 200
    first, second = captured.ingest_queue.messages
    assert first["envelope_id"] != second["envelope_id"] and len(first["envelope_id"]) == 32
    assert first["received_at"] == "2026-03-01T10:30:00.000250Z"


def test_a_provider_listing_a_credential_header_still_does_not_queue_it(captured, monkeypatch):
    from chalicelib.providers import get_provider

    sample = next(s for s in SAMPLES if s.provider == "pipedrive")  # basic auth in Authorization
    monkeypatch.setattr(type(get_provider("pipedrive")), "kept_headers", ("authorization", "x-request-id"))
    assert receive(captured, sample, headers={"X-Request-Id": "r-1"}).status == 200
    [message] = captured.ingest_queue.messages
    assert message["headers"] == {"content-type": "application/json", "x-request-id": "r-1"}


def test_json_is_parsed_once_per_request_and_judged_as_the_worker_judges_it():
    from chalicelib.errors import MalformedPayload
    from chalicelib.providers.base import InboundRequest, load_json

    request = InboundRequest("POST", "u", "/", {"content-type": "application/json"}, {}, b'{"a": [1]}')
    assert request.json() is request.json() and request.json() == {"a": [1]}
    # what json.loads accepts in bytes (a BOM, UTF-16) is accepted, not refused at ingest
    assert load_json('{"a": 1}'.encode("utf-8-sig")) == {"a": 1}
    assert load_json('{"a": "é"}'.encode("utf-16")) == {"a": "é"}
    for bad in (b"{", b"\xff\xfe{", b'{"a": 1} x', b""):
        with pytest.raises(MalformedPayload):
            InboundRequest("POST", "u", "/", {}, {}, bad).json()


@pytest.mark.parametrize("body", [b"{", b'{"a":', b"[1, 2", b"\xff"])
def test_a_body_that_is_not_json_is_400_after_its_signature_checks(body, captured):
    sample = next(s for s in SAMPLES if s.provider == "slack")  # handshake and check_body both read it
    answer = receive(captured, sample, body=body)
    assert answer.status == 400 and answer.body["error"] == "parse_error"
    assert captured.ingest_queue.messages == []
