"""Generic signed sink: each advocate record POSTed with Standard Webhooks headers, verified
here with plain hmac/base64 as the spec describes (not with chalicelib's signing code)."""

import base64
import hashlib
import hmac
import json
import time

import requests
import responses

from tests.support.crm import crm, fresh_tokens, record, sleeps  # noqa: F401
from tests.support.senders import SECRETS

URL = "https://receiver.example.com/chorus"


def expected_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def test_records_are_signed_with_every_active_secret(crm):
    with responses.RequestsMock() as rsps:
        rsps.post(URL, status=204)
        rsps.post(URL, status=200)
        results = _provider().upsert([record(1), record(2)], crm.connector("webhook-out"), crm.http)
        requests_sent = [c.request for c in rsps.calls]
    assert all(r.ok for r in results)
    first = requests_sent[0]
    msg_id, ts = first.headers["webhook-id"], first.headers["webhook-timestamp"]
    assert msg_id.startswith("msg_") and abs(int(ts) - time.time()) < 5
    signatures = first.headers["webhook-signature"].split(" ")
    assert signatures == [
        expected_signature(SECRETS["TEST_WEBHOOK_SINK_SECRET"], msg_id, ts, first.body),
        expected_signature(SECRETS["TEST_WEBHOOK_SINK_SECRET_OLD"], msg_id, ts, first.body),
    ]
    payload = json.loads(first.body)
    assert payload["type"] == "advocate.updated" and payload["timestamp"] == "2024-05-01T10:01:00+00:00"
    assert payload["data"]["person_id"] == "person-1" and payload["data"]["email"] == "fan1@example.com"
    assert payload["data"]["advocate_score"] == 71
    assert results[0].written["advocate_score"] == "71"
    assert requests_sent[1].headers["webhook-id"] != msg_id


def test_webhook_id_is_stable_per_record_version(crm):
    with responses.RequestsMock() as rsps:
        for _ in range(3):
            rsps.post(URL, status=200)
        for rec in (record(1), record(1), record(1, advocate_score=90)):
            _provider().upsert([rec], crm.connector("webhook-out"), crm.http)
        ids = [c.request.headers["webhook-id"] for c in rsps.calls]
    assert ids[0] == ids[1] != ids[2]


def test_receiver_errors_split_into_permanent_and_retryable(crm, sleeps):
    with responses.RequestsMock() as rsps:
        rsps.post(URL, status=410, body="gone")
        for _ in range(4):
            rsps.post(URL, status=503)
        gone, down = _provider().upsert([record(1), record(2)], crm.connector("webhook-out"), crm.http)
    assert not gone.ok and not gone.retryable and "410" in gone.error
    assert not down.ok and down.retryable and len(sleeps) == 3


def test_429_retry_after_and_timeout(crm, sleeps):
    with responses.RequestsMock() as rsps:
        rsps.post(URL, status=429, headers={"Retry-After": "2"})
        rsps.post(URL, body=requests.exceptions.Timeout())
        rsps.post(URL, status=200)
        [result] = _provider().upsert([record(1)], crm.connector("webhook-out"), crm.http)
    assert result.ok and sleeps[0] == 2.0 and len(sleeps) == 2


def _provider():
    from chalicelib.providers import get_provider

    return get_provider("webhook")
