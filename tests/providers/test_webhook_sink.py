"""Generic signed sink: each advocate record POSTed with Standard Webhooks headers, verified
here with plain hmac/base64 as the spec describes (not with chalicelib's signing code)."""

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

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


def test_webhook_id_is_one_per_event_and_verifies_with_standardwebhooks(crm):
    # A score going 71 -> 72 -> 71 is three events: a receiver de-duplicating on webhook-id (as
    # the spec says) must keep the last one. Before, the third reused the first id.
    from standardwebhooks.webhooks import Webhook

    changes = [
        record(1, advocate_score=score, changed_at=datetime(2024, 5, 1, 10, m, tzinfo=UTC))
        for m, score in ((1, 71), (2, 72), (3, 71))
    ]
    with responses.RequestsMock() as rsps:
        for _ in range(4):
            rsps.post(URL, status=200)
        for change in [*changes, changes[2]]:  # the last one again: a retry of the same event
            _provider().upsert([change], crm.connector("webhook-out"), crm.http)
        sent = [c.request for c in rsps.calls]
    ids = [r.headers["webhook-id"] for r in sent]
    assert len(set(ids[:3])) == 3 and ids[3] == ids[2]
    for request in sent:  # the vendor's own library accepts each, with either active secret
        for secret in (SECRETS["TEST_WEBHOOK_SINK_SECRET"], SECRETS["TEST_WEBHOOK_SINK_SECRET_OLD"]):
            payload = Webhook(secret).verify(request.body, dict(request.headers))
            assert payload["data"]["person_id"] == "person-1"
    assert [json.loads(r.body)["data"]["advocate_score"] for r in sent] == [71, 72, 71, 71]


def test_a_redirect_is_neither_followed_nor_delivered(crm):
    # Before: the 302 was followed as a bodiless GET to the Location and counted delivered.
    with responses.RequestsMock() as rsps:
        rsps.post(URL, status=302, headers={"Location": "https://elsewhere.example.com/inbox"})
        [result] = _provider().upsert([record(1)], crm.connector("webhook-out"), crm.http)
        assert len(rsps.calls) == 1
    assert not result.ok and result.retryable and "not followed" in result.error


def sync_once(crm, attempt: int = 0, not_before: datetime | None = None):
    from chalicelib.schema import Person
    from chalicelib.sync.engine import run_sync

    now = datetime.now(UTC)
    if crm.hub.store.get_person("p1") is None:
        person = Person(person_id="p1", created_at=now, updated_at=now, email="fan1@example.com")
        crm.hub.store.put_person(person, None)
    job = {
        "person_id": "p1",
        "connector_id": "webhook-out",
        "requested_at": now.isoformat(),
        "attempt": attempt,
    }
    if not_before:
        job["not_before"] = not_before.isoformat()
    return run_sync(crm.hub, {"m1": job})


def queued_jobs(hub) -> list[dict]:
    """What the sync queue holds now (SQS under moto, or the local hub's queue)."""
    queue = hub.sync_queue
    if hasattr(queue, "receive"):
        return [
            json.loads(m["body"]) if isinstance(m.get("body"), str) else m["body"] for m in queue.receive(10)
        ]
    import boto3

    reply = boto3.client("sqs").receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in reply.get("Messages", [])]


def test_a_failed_delivery_is_queued_again_on_the_spec_schedule(crm, sleeps):
    from chalicelib.providers.webhook_sink import RETRY_SCHEDULE

    with responses.RequestsMock() as rsps:
        for _ in range(4):  # the in-call retries of a 503, then the next step of the schedule
            rsps.post(URL, status=503)
        outcome = sync_once(crm)
    assert outcome.rescheduled == 1 and not outcome.failed_messages  # this message is done with
    [job] = queued_jobs(crm.hub)
    due = datetime.fromisoformat(job["not_before"]) - datetime.now(UTC)
    assert job["attempt"] == 1 and 3 <= due.total_seconds() <= RETRY_SCHEDULE[0]
    # received before it is due: held back for the rest of the delay, nothing sent
    with responses.RequestsMock() as rsps:
        early = sync_once(crm, attempt=1, not_before=datetime.now(UTC) + timedelta(hours=5))
    assert early.failed_messages == {"m1"} and 17990 <= early.retry_after["m1"] <= 18000
    assert sum(RETRY_SCHEDULE) / 3600 > 72  # the spec's example spans three days


def test_past_the_last_step_the_delivery_is_dead_lettered(crm, sleeps):
    from chalicelib.providers.webhook_sink import RETRY_SCHEDULE

    with responses.RequestsMock() as rsps:
        for _ in range(4):
            rsps.post(URL, status=500)
        outcome = sync_once(crm, attempt=len(RETRY_SCHEDULE))
    assert outcome.dead_lettered == 1 and outcome.rescheduled == 0 and queued_jobs(crm.hub) == []
    [letter] = crm.hub.store.dead_letters("webhook-out", 10)
    assert "retry schedule exhausted" in letter.reason and "HTTP 500" in letter.reason


def test_a_receiver_throttle_parks_it_instead_of_spending_a_schedule_step(crm, sleeps):
    with responses.RequestsMock() as rsps:
        rsps.post(URL, status=429, headers={"Retry-After": "90"})
        outcome = sync_once(crm)
        assert len(rsps.calls) == 1
    assert outcome.rescheduled == 0 and outcome.failed_messages == {"m1"} and outcome.retry_after["m1"] == 90
