"""X Account Activity API: CRC handshake, signed tweet deliveries, extended and deleted tweets."""

import base64
import hashlib
import hmac
import json

from tests.support.senders import SECRETS, fixture_bytes, fixture_json, typeform_headers, x_headers

URL = "/webhooks/x-brand"


def test_crc_answers_with_the_documented_response_token(client):
    response = client.http.get(f"{URL}?crc_token=challenge-123")
    assert response.status_code == 200
    expected = base64.b64encode(
        hmac.new(SECRETS["TEST_X_CONSUMER_SECRET"].encode(), b"challenge-123", hashlib.sha256).digest()
    ).decode()
    assert json.loads(response.body) == {"response_token": "sha256=" + expected}


def test_get_without_crc_token_is_refused(client):
    assert client.http.get(URL).status_code == 403


def test_two_tweets_in_one_delivery(client, workers, hub):
    body = fixture_bytes("x/tweet_create_events.json")
    assert client.http.post(URL, body=body, headers=x_headers(body)).status_code == 200
    workers.drain()
    items = {i.author.handle: i for i in hub.store.connector_interactions("x-brand", 10)}
    assert set(items) == {"maya_builds", "devon_ops"}
    mention, reply = items["maya_builds"], items["devon_ops"]
    assert mention.kind == "mention" and mention.brand_matches  # mentions @ChorusDemo
    assert mention.url == "https://x.com/maya_builds/status/2125244096205475840"
    assert mention.author.followers is not None and mention.sentiment.label == "positive"
    assert reply.kind == "comment" and reply.parent_id == "2125220388988383232"
    person = hub.store.get_person(mention.person_id)
    assert {"x#1420873350012977153", "x_handle#maya_builds"} <= {r.key for r in person.identities}
    assert person.stats.public_positive_mentions == 1


def test_extended_tweet_uses_full_text(client, workers, hub):
    body = fixture_bytes("x/tweet_extended.json")
    assert client.http.post(URL, body=body, headers=x_headers(body)).status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("x-brand", 10)
    full = fixture_json("x/tweet_extended.json")["tweet_create_events"][0]["extended_tweet"]["full_text"]
    assert item.text == full


def test_deleted_tweet_keeps_no_text(client, workers, hub):
    create = fixture_json("x/tweet_create_events.json")
    tweet = create["tweet_create_events"][0]
    body = json.dumps(create).encode()
    client.http.post(URL, body=body, headers=x_headers(body))
    workers.drain()
    deletion = json.dumps(
        {
            "for_user_id": create["for_user_id"],
            "tweet_delete_events": [
                {
                    "status": {"id": tweet["id_str"], "user_id": tweet["user"]["id_str"]},
                    "timestamp_ms": str(int(tweet["timestamp_ms"]) + 60_000),
                }
            ],
        }
    ).encode()
    assert client.http.post(URL, body=deletion, headers=x_headers(deletion)).status_code == 200
    workers.drain()
    stored = {i.external_id: i for i in hub.store.connector_interactions("x-brand", 10)}[tweet["id_str"]]
    assert stored.deleted and stored.text is None and stored.sentiment is None
    assert "saved our CS team" not in json.dumps(stored.model_dump(mode="json"))


def test_documented_delete_of_the_accounts_own_tweet_is_skipped(client, workers, hub):
    body = fixture_bytes("x/tweet_delete_events.json")
    assert client.http.post(URL, body=body, headers=x_headers(body)).status_code == 200
    workers.drain()
    assert hub.store.connector_interactions("x-brand", 10) == []


def test_malformed_tweet_does_not_cost_the_good_one(client, workers, hub):
    data = fixture_json("x/tweet_create_events.json")
    data["tweet_create_events"].insert(0, {"id_str": "1", "text": "no user object"})
    body = json.dumps(data).encode()
    assert client.http.post(URL, body=body, headers=x_headers(body)).status_code == 200
    workers.drain()
    assert len(hub.store.connector_interactions("x-brand", 10)) == 2
    assert hub.store.event_counts("x-brand").get("skipped_malformed_entry") == 1


def test_signature_cases(client):
    body = fixture_bytes("x/tweet_create_events.json")
    assert client.http.post(URL, body=body, headers={"Content-Type": "application/json"}).status_code == 401
    assert client.http.post(URL, body=body + b" ", headers=x_headers(body)).status_code == 401
    # another provider's correctly formed signature is still the wrong one
    assert client.http.post(URL, body=body, headers=typeform_headers(body)).status_code == 401
