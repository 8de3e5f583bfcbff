"""Zendesk webhooks (comments and CSAT) through the real route, queue, worker and store."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

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


def by_external(hub):
    return {i.external_id: i for i in hub.store.connector_interactions("zendesk-support", 20)}


def test_csat_survives_the_requesters_language(client, workers, hub):
    """The rendered {{satisfaction.current_rating}} follows the requester's language; the
    trigger's literal `score` is the machine value."""
    assert post(client, "satisfaction_rating_localised.json").status_code == 200
    workers.drain()
    csat = by_external(hub)["ticket:35436:satisfaction"]
    assert (csat.rating.value, csat.rating.scale) == (1.0, 1.0)
    assert csat.text == "Comment: Résolu en dix minutes."


def test_rendered_rating_text_is_dead_lettered_not_dropped(client, workers, hub):
    assert post(client, "satisfaction_rating_rendered_only.json").status_code == 200
    workers.drain()
    assert "ticket:35436:satisfaction" not in by_external(hub)
    [letter] = hub.store.dead_letters("zendesk-support", 10)
    assert "machine value" in letter.reason and "Gut" not in letter.reason


@pytest.mark.parametrize("removal", ["comment_redacted.json", "comment_made_private.json"])
def test_redacted_and_privatised_comments_lose_their_text(client, workers, hub, removal):
    assert post(client, "comment_added.json").status_code == 200
    workers.drain()
    assert by_external(hub)["comment:10001"].text
    assert post(client, removal).status_code == 200
    workers.drain()
    gone = by_external(hub)["comment:10001"]
    assert gone.deleted and gone.text is None and gone.sentiment is None


def test_deleted_ticket_removes_the_text_of_its_comments_and_rating(client, workers, hub):
    assert post(client, "comment_added.json").status_code == 200
    assert post(client, "satisfaction_rating.json").status_code == 200
    workers.drain()
    assert post(client, "ticket_soft_deleted.json").status_code == 200
    workers.drain()
    items = by_external(hub)
    assert items["comment:10001"].deleted and items["comment:10001"].text is None
    assert items["ticket:35436:satisfaction"].deleted and items["ticket:35436:satisfaction"].text is None
    person = hub.store.get_person(items["comment:10001"].person_id)
    assert all(i.text is None for i in hub.store.person_interactions(person.person_id))


def _cc_comment() -> bytes:
    """A comment on the same ticket by a CC'd user, not its requester (Zendesk's shape)."""
    event = json.loads(fixture_bytes("zendesk/comment_added.json"))
    event["id"] = "d1e2f3a4-0000-4000-8000-000000000002"
    event["event"]["comment"].update(
        id="10002",
        body="Same question here, I love how fast you answered.",
        author={"id": "8447388090777", "is_staff": False, "name": "Cc User"},
    )
    return json.dumps(event).encode()


@pytest.mark.parametrize("with_requester", [True, False], ids=["requester", "no_requester"])
def test_deleted_ticket_removes_every_authors_comments(client, workers, hub, with_requester):
    """The deletion names the requester (or nobody): a CC'd user's comment on that ticket loses
    its text too, found by the ticket, not through the deletion's author."""
    assert post(client, "comment_added.json").status_code == 200
    assert post(client, "", body=_cc_comment()).status_code == 200
    workers.drain()
    items = by_external(hub)
    assert items["comment:10001"].person_id != items["comment:10002"].person_id
    deletion = json.loads(fixture_bytes("zendesk/ticket_soft_deleted.json"))
    if not with_requester:
        del deletion["detail"]["requester_id"]
    assert post(client, "", body=json.dumps(deletion).encode()).status_code == 200
    workers.drain()
    items = by_external(hub)
    for comment in ("comment:10001", "comment:10002"):
        assert items[comment].deleted and items[comment].text is None and items[comment].sentiment is None
