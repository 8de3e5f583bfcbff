"""Discourse post webhooks through the real route, queue, worker and store."""

import json

from tests.support.senders import fixture_bytes
from tests.support.social_senders import discourse_headers

URL = "/webhooks/discourse-community"


def post(client, body: bytes, event: str, headers=None):
    return client.http.post(
        URL, body=body, headers=headers if headers is not None else discourse_headers(body, event)
    )


def stored(hub):
    return {i.external_id: i for i in hub.store.connector_interactions("discourse-community", 20)}


def test_post_created_keeps_author_thread_and_url(client, workers, hub):
    assert post(client, fixture_bytes("discourse/post_created.json"), "post_created").status_code == 200
    workers.drain()
    item = stored(hub)["48213"]
    assert item.kind == "comment" and item.public is True
    assert item.author.handle == "maya_builds" and item.author.provider_user_id == "1187"
    assert item.url == "https://community.example.com/t/how-do-you-close-the-nps-loop/9120/3"
    assert item.thread_id == "9120" and item.parent_id == "9120#2"
    assert item.brand_matches == ["Chorus"] and item.sentiment.label == "positive"


def test_private_message_is_a_private_direct_message(client, workers, hub):
    assert post(client, fixture_bytes("discourse/private_message.json"), "post_created").status_code == 200
    workers.drain()
    item = stored(hub)["48230"]
    assert item.kind == "direct_message" and item.public is False


def test_retry_with_a_new_event_id_is_stored_once(client, workers, hub):
    body = fixture_bytes("discourse/post_created.json")
    for attempt in ("101", "102"):  # Discourse makes a new WebHookEvent (and Event-Id) per attempt
        assert (
            post(
                client, body, "post_created", discourse_headers(body, "post_created", event_id=attempt)
            ).status_code
            == 200
        )
    workers.drain()
    [item] = hub.store.connector_interactions("discourse-community", 20)
    assert hub.store.get_person(item.person_id).stats.interaction_count == 1


def test_destroyed_post_leaves_no_text(client, workers, hub):
    assert post(client, fixture_bytes("discourse/post_created.json"), "post_created").status_code == 200
    workers.drain()
    assert post(client, fixture_bytes("discourse/post_destroyed.json"), "post_destroyed").status_code == 200
    workers.drain()
    item = stored(hub)["48213"]
    assert item.deleted and item.text is None and item.sentiment is None
    assert all("NPS follow-ups" not in (i.text or "") for i in hub.store.person_interactions(item.person_id))


def test_ping_topic_created_and_staff_posts_are_skipped(client, workers, hub):
    ping = b'{"ping": "OK"}'
    assert post(client, ping, "ping").status_code == 200
    topic = json.dumps({"topic": {"id": 9120, "title": "How do you close the NPS loop?"}}).encode()
    assert post(client, topic, "topic_created").status_code == 200
    staff = json.loads(fixture_bytes("discourse/post_created.json"))
    staff["post"].update(id=48214, staff=True, admin=True)
    body = json.dumps(staff).encode()
    assert post(client, body, "post_created").status_code == 200
    workers.drain()
    assert stored(hub) == {}
    counts = hub.store.event_counts("discourse-community")
    assert counts.get("skipped_ping") == 1 and counts.get("skipped_covered_by_post") == 1
    assert counts.get("skipped_own_account") == 1


def test_malformed_post_does_not_block_the_next_delivery(client, workers, hub):
    broken = json.dumps({"post": {"id": 1, "raw": "no topic, no dates"}}).encode()
    assert post(client, broken, "post_created").status_code == 200
    assert post(client, fixture_bytes("discourse/post_created.json"), "post_created").status_code == 200
    workers.drain()
    assert set(stored(hub)) == {"48213"}


def test_signature_cases(client):
    body = fixture_bytes("discourse/post_created.json")
    good = discourse_headers(body, "post_created")
    assert post(client, body.replace(b"Great work", b"Bad work"), "post_created", good).status_code == 401
    missing = {k: v for k, v in good.items() if k != "X-Discourse-Event-Signature"}
    assert post(client, body, "post_created", missing).status_code == 401
    assert (
        post(client, body, "post_created", discourse_headers(body, "post_created", secret="nope")).status_code
        == 401
    )


def test_recovered_post_is_restored_with_its_text(client, workers, hub):
    """post_recovered is one of Discourse's default post event types (web_hook.rb)."""
    for name, event in (
        ("post_created", "post_created"),
        ("post_destroyed", "post_destroyed"),
        ("post_recovered", "post_recovered"),
    ):
        assert post(client, fixture_bytes(f"discourse/{name}.json"), event).status_code == 200
        workers.drain()
    item = stored(hub)["48213"]
    assert item.deleted is False and "NPS follow-ups finally happen on time" in item.text
    assert item.sentiment.label == "positive" and item.brand_matches == ["Chorus"]
    assert hub.store.event_counts("discourse-community").get("skipped_unsupported_event") is None
    person = hub.store.get_person(item.person_id)
    assert person.stats.interaction_count == 1
