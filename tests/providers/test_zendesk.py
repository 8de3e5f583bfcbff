"""Zendesk webhooks (comments and CSAT) through the real route, queue, worker and store."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from tests.support.senders import SECRETS, fixture_bytes

URL = "/webhooks/zendesk-support"


def zd_headers(
    body: bytes, *, at: datetime | None = None, secret: str = SECRETS["TEST_ZENDESK_SIGNING_SECRET"]
) -> dict[str, str]:
    """base64(HMAC-SHA256(signing secret, TIMESTAMP + BODY)) with an ISO-8601 timestamp."""
    stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }


def post(client, name: str, headers=None, body=None):
    body = body if body is not None else fixture_bytes(f"zendesk/{name}")
    return client.http.post(URL, body=body, headers=headers if headers is not None else zd_headers(body))


def test_customer_comment_becomes_a_comment_interaction(client, workers, hub):
    assert post(client, "comment_added.json").status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("zendesk-support", 10)
    assert item.kind == "comment" and item.external_id == "comment:10001"
    assert item.thread_id == "ticket:35436" and item.public is True
    assert item.text.startswith("Thanks, the fix worked")
    assert item.sentiment.label == "positive"
    person = hub.store.get_person(item.person_id)
    assert "zendesk#8447388090495" in {r.key for r in person.identities}


def test_agent_comment_and_other_events_are_skipped(client, workers, hub):
    assert post(client, "comment_added_by_agent.json").status_code == 200
    assert post(client, "user_created.json").status_code == 200
    workers.drain()
    assert hub.store.connector_interactions("zendesk-support", 10) == []


def test_satisfaction_rating_from_the_trigger_template(client, workers, hub):
    assert post(client, "satisfaction_rating.json").status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("zendesk-support", 10)
    assert item.kind == "survey_response" and (item.rating.value, item.rating.scale) == (1.0, 1.0)
    assert item.text == "Comment: Solved in ten minutes."
    # the requester's Zendesk id and email land on one person, shared with their comments
    assert post(client, "comment_added.json").status_code == 200
    workers.drain()
    people = {i.person_id for i in hub.store.connector_interactions("zendesk-support", 10)}
    assert len(people) == 1


def test_changed_rating_updates_the_same_interaction(client, workers, hub):
    good = json.loads(fixture_bytes("zendesk/satisfaction_rating.json"))
    bad = {
        **good,
        "rating": "Bad",
        "comment": "Reopened, still broken.",
        "updated_at": "2026-11-21T08:00:00Z",
    }
    for version in (good, bad):
        assert post(client, "", body=json.dumps(version).encode()).status_code == 200
        workers.drain()
    [item] = hub.store.connector_interactions("zendesk-support", 10)
    assert item.rating.value == 0.0 and "still broken" in item.text


def test_duplicates_are_stored_once(client, workers, hub):
    for _ in range(3):
        assert post(client, "comment_added.json").status_code == 200
        assert post(client, "satisfaction_rating.json").status_code == 200
    workers.drain()
    assert len(hub.store.connector_interactions("zendesk-support", 10)) == 2


def test_signature_cases(client):
    body = fixture_bytes("zendesk/comment_added.json")
    assert post(client, "comment_added.json", {"Content-Type": "application/json"}).status_code == 401
    tampered = body.replace(b"brilliant", b"terrible")
    assert post(client, "", zd_headers(body), body=tampered).status_code == 401
    assert post(client, "comment_added.json", zd_headers(body, secret="wrong")).status_code == 401
    stale = post(client, "comment_added.json", zd_headers(body, at=datetime.now(UTC) - timedelta(minutes=6)))
    assert stale.status_code == 401 and json.loads(stale.body)["error"] == "stale_timestamp"
    # the body signed with the timestamp after it (the other reading of the docs) is refused
    headers = zd_headers(body)
    swapped = hmac.new(
        SECRETS["TEST_ZENDESK_SIGNING_SECRET"].encode(),
        body + headers["X-Zendesk-Webhook-Signature-Timestamp"].encode(),
        hashlib.sha256,
    ).digest()
    headers["X-Zendesk-Webhook-Signature"] = base64.b64encode(swapped).decode()
    assert post(client, "comment_added.json", headers).status_code == 401
