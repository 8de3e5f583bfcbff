"""X Account Activity beyond tweets: quotes, likes, direct messages, the OAuth 2.0 signature."""

import base64
import hashlib
import hmac
import json

from tests.support.senders import SECRETS, fixture_bytes, x_headers

URL = "/webhooks/x-brand"


def post(client, name: str, url: str = URL, headers=None):
    body = fixture_bytes(f"x/{name}.json")
    return client.http.post(url, body=body, headers=headers if headers is not None else x_headers(body))


def stored(hub, connector="x-brand"):
    return {i.external_id: i for i in hub.store.connector_interactions(connector, 20)}


def test_quote_tweet_is_a_mention_of_the_quoted_post(client, workers, hub):
    assert post(client, "quote_tweet").status_code == 200
    workers.drain()
    quote = stored(hub)["2125246500000000000"]
    assert quote.kind == "mention" and quote.parent_id == "2125227800000000000" == quote.thread_id
    assert quote.author.handle == "devon_ops" and quote.author.followers == 318


def test_like_of_the_brands_post_is_a_textless_public_mention(client, workers, hub):
    assert post(client, "favorite_events").status_code == 200
    workers.drain()
    [like] = stored(hub).values()  # the second event has no user: skipped as malformed
    assert like.kind == "mention" and like.event_type == "favorite" and like.text is None
    assert like.sentiment is None and like.parent_id == "2125227800000000000"
    assert like.author.handle == "maya_builds" and like.author.followers == 4821
    assert hub.store.event_counts("x-brand").get("skipped_malformed_entry") == 1


def test_direct_message_takes_the_sender_from_the_users_map(client, workers, hub):
    assert post(client, "direct_message_events").status_code == 200
    workers.drain()
    [dm] = stored(hub).values()  # the brand's own answer is skipped
    assert dm.kind == "direct_message" and dm.public is False
    assert dm.author.handle == "maya_builds" and dm.author.display_name == "Maya Chen"
    assert dm.author.provider_user_id == "1420873350012977153" and dm.author.followers == 4821
    assert "Salesforce sync" in dm.text


def test_same_dm_delivered_twice_is_stored_once(client, workers, hub):
    for _ in range(2):
        assert post(client, "direct_message_events").status_code == 200
    workers.drain()
    [dm] = stored(hub).values()
    assert hub.store.get_person(dm.person_id).stats.interaction_count == 1


def _oauth2_headers(body: bytes, secret: str = SECRETS["TEST_X_OAUTH2_CLIENT_SECRET"]) -> dict[str, str]:
    """X: X-Twitter-Webhooks-Signature-OAuth2: sha256=base64(HMAC-SHA256(OAuth 2.0 client secret, body))."""
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "X-Twitter-Webhooks-Signature-OAuth2": "sha256=" + digest}


def test_oauth2_signed_connector_checks_the_oauth2_header_and_answers_crc_with_that_secret(
    client, workers, hub
):
    body = fixture_bytes("x/direct_message_events.json")
    url = "/webhooks/x-oauth2"
    assert client.http.post(url, body=body, headers=_oauth2_headers(body)).status_code == 200
    assert (
        client.http.post(url, body=body, headers=x_headers(body)).status_code == 401
    )  # consumer header only
    assert client.http.post(url, body=body, headers=_oauth2_headers(body, "wrong")).status_code == 401
    crc = client.http.get(f"{url}?crc_token=challenge123")
    expected = base64.b64encode(
        hmac.new(SECRETS["TEST_X_OAUTH2_CLIENT_SECRET"].encode(), b"challenge123", hashlib.sha256).digest()
    ).decode()
    assert json.loads(crc.body) == {"response_token": "sha256=" + expected}
    workers.drain()
    assert len(stored(hub, "x-oauth2")) == 1


def test_repost_is_not_the_fans_own_words(client, workers, hub):
    """A v1.1 retweet carries `retweeted_status` and "RT @author: ..." text (the brand's words)."""
    assert post(client, "retweet").status_code == 200
    workers.drain()
    [repost] = stored(hub).values()
    assert repost.kind == "repost" and repost.author.handle == "devon_ops"
    assert repost.text is None and repost.sentiment is None and repost.brand_matches == []
    assert repost.parent_id == "2125227800000000001"
    person = hub.store.get_person(repost.person_id)
    assert person.stats.public_positive_mentions == 0 and person.stats.sentiment_avg is None
    assert person.stats.interaction_count == 1  # it still counts as activity


def test_edit_of_a_mention_updates_the_one_interaction(client, workers, hub):
    """Each edit is a new post id; edit_history.initial_tweet_id names the original."""
    assert post(client, "tweet_create_events").status_code == 200
    workers.drain()
    assert post(client, "tweet_edited").status_code == 200
    workers.drain()
    maya = [i for i in stored(hub).values() if i.author.handle == "maya_builds"]
    assert len(maya) == 1
    [mention] = maya
    assert mention.external_id == "2125244096205475840" and "disappointed" in mention.text
    assert mention.sentiment.label == "negative" and mention.url.endswith("/2125246600000000003")
    assert hub.store.get_person(mention.person_id).stats.interaction_count == 1


def _delete_of(tweet_id: str, user_id: str) -> bytes:
    """X's tweet_delete_events shape (tests/fixtures/x/tweet_delete_events.json) for one status."""
    event = {"status": {"id": tweet_id, "user_id": user_id}, "timestamp_ms": "1795543999000"}
    return json.dumps({"for_user_id": "1590412873065041921", "tweet_delete_events": [event]}).encode()


def test_deleting_an_edited_posts_latest_version_deletes_the_one_interaction(client, workers, hub):
    """The post is kept under its first version's id; X's delete event names the version the
    author deleted (the latest): its id is an alias of the same interaction."""
    assert post(client, "tweet_create_events").status_code == 200
    assert post(client, "tweet_edited").status_code == 200
    workers.drain()
    [mention] = [i for i in stored(hub).values() if i.author.handle == "maya_builds"]
    assert "x:post:2125246600000000003" in mention.also_keys
    body = _delete_of("2125246600000000003", mention.author.provider_user_id)
    assert client.http.post(URL, body=body, headers=x_headers(body)).status_code == 200
    workers.drain()
    maya = [i for i in stored(hub).values() if i.author.provider_user_id == mention.author.provider_user_id]
    assert [(i.external_id, i.deleted, i.text) for i in maya] == [("2125244096205475840", True, None)]
