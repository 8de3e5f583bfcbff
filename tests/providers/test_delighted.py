"""Delighted webhooks through the real route, queue, worker and store."""

import hashlib
import hmac

from tests.support.senders import SECRETS, fixture_bytes

URL = "/webhooks/delighted-nps"


def delighted_headers(body: bytes, secret: str = SECRETS["TEST_DELIGHTED_API_KEY"]) -> dict[str, str]:
    """X-Delighted-Webhook-Signature: sha256=hex(HMAC-SHA256(api key, body))."""
    return {
        "Content-Type": "application/json",
        "X-Delighted-Webhook-Signature": "sha256="
        + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


def post(client, name: str, headers=None):
    body = fixture_bytes(f"delighted/{name}")
    return client.http.post(
        URL, body=body, headers=headers if headers is not None else delighted_headers(body)
    )


def test_created_then_updated_is_one_interaction_with_the_comment(client, workers, hub):
    assert post(client, "survey_response_created.json").status_code == 200
    workers.drain()
    [first] = hub.store.connector_interactions("delighted-nps", 10)
    assert first.nps == 9 and first.text is None
    assert post(client, "survey_response_updated.json").status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("delighted-nps", 10)
    assert item.interaction_id == first.interaction_id and item.external_id == "5435"
    assert item.kind == "survey_response" and item.nps == 9 and item.nps_category == "promoter"
    assert item.text.splitlines() == [
        "Comment: Your service is fast and flawless!",
        "What specifically did you enjoy about your experience with us?: Convenience, Friendly staff",
        "What could we do better?: More integrations, please.",
    ]
    assert item.occurred_at.timestamp() == 1795000250 and item.updated_at.timestamp() == 1795000850
    person = hub.store.get_person(item.person_id)
    assert {"email#charlie_gravis@example.com", "hubspot#88001234"} <= {r.key for r in person.identities}
    assert person.stats.interaction_count == 1


def test_late_created_event_does_not_overwrite_the_update(client, workers, hub):
    assert post(client, "survey_response_updated.json").status_code == 200
    workers.drain()
    assert post(client, "survey_response_created.json").status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("delighted-nps", 10)
    assert item.text and item.text.startswith("Comment: Your service")


def test_csat_score_is_a_rating_not_nps(client, workers, hub):
    assert post(client, "csat_response_created.json").status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("delighted-nps", 10)
    assert item.nps is None
    assert (item.rating.value, item.rating.scale) == (4.0, 5.0)


def test_unsubscribe_is_skipped_and_duplicates_stored_once(client, workers, hub):
    assert post(client, "unsubscribe_created.json").status_code == 200
    for _ in range(3):
        assert post(client, "survey_response_updated.json").status_code == 200
    workers.drain()
    assert len(hub.store.connector_interactions("delighted-nps", 10)) == 1


def test_signature_cases(client):
    body = fixture_bytes("delighted/survey_response_updated.json")
    assert (
        post(client, "survey_response_updated.json", {"Content-Type": "application/json"}).status_code == 401
    )
    tampered = body.replace(b'"score": 9', b'"score": 0')
    assert client.http.post(URL, body=tampered, headers=delighted_headers(body)).status_code == 401
    assert post(client, "survey_response_updated.json", delighted_headers(body, "wrong")).status_code == 401
