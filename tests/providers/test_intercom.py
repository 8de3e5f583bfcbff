"""Intercom conversation webhooks through the real route, queue, worker and store."""

from tests.support.senders import fixture_bytes
from tests.support.social_senders import intercom_headers

URL = "/webhooks/intercom-inbox"


def post(client, name: str, headers=None):
    body = fixture_bytes(f"intercom/{name}.json")
    return client.http.post(
        URL, body=body, headers=headers if headers is not None else intercom_headers(body)
    )


def stored(hub):
    return {i.external_id: i for i in hub.store.connector_interactions("intercom-inbox", 20)}


def test_opening_message_and_customer_reply_become_private_messages(client, workers, hub):
    assert post(client, "conversation_user_created").status_code == 200
    assert post(client, "conversation_user_replied").status_code == 200
    workers.drain()
    items = stored(hub)
    assert set(items) == {
        "147852369:2218849117",
        "147852369:18820033311",
    }  # admin part and broken part left out
    opening, reply = items["147852369:2218849117"], items["147852369:18820033311"]
    assert (
        opening.text
        == "Hi! We love Chorus so far.\nCan the advocate score be synced to a custom HubSpot property?"
    )
    assert reply.text == "Thanks, works perfectly now & the team is happy!"
    assert {opening.kind, reply.kind} == {"direct_message"} and not opening.public
    assert reply.thread_id == "147852369" == reply.parent_id and opening.parent_id is None
    assert opening.person_id == reply.person_id
    assert hub.store.get_person(opening.person_id).email == "maya.chen@example.com"
    counts = hub.store.event_counts("intercom-inbox")
    assert counts.get("skipped_admin_reply") == 1 and counts.get("skipped_malformed_entry") == 1


def test_ping_is_skipped_and_duplicates_are_stored_once(client, workers, hub):
    assert post(client, "ping").status_code == 200
    for _ in range(2):
        assert post(client, "conversation_user_created").status_code == 200
    workers.drain()
    assert len(stored(hub)) == 1
    assert hub.store.event_counts("intercom-inbox").get("skipped_ping") == 1


def test_signature_cases(client):
    body = fixture_bytes("intercom/conversation_user_created.json")
    tampered = body.replace(b"We love", b"We hate")
    assert client.http.post(URL, body=tampered, headers=intercom_headers(body)).status_code == 401
    assert post(client, "conversation_user_created", {"Content-Type": "application/json"}).status_code == 401
    assert (
        post(client, "conversation_user_created", intercom_headers(body, secret="wrong")).status_code == 401
    )


def test_head_validation_of_the_endpoint_url_is_answered_200(client):
    """Intercom: "When you add your endpoint URL, it must be able to receive a HEAD request"."""
    response = client.http.request("HEAD", URL)
    assert response.status_code == 200 and response.body == b""
    assert client.http.get(URL).status_code == 405  # only HEAD is a handshake
