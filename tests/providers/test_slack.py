"""Slack Events API deliveries through the real route, queue, worker and store.
The test connector keeps only messages that mention a brand term (a whole workspace)."""

import time

from tests.support.senders import fixture_bytes
from tests.support.social_senders import slack_headers

URL = "/webhooks/slack-community"
KEY = "C2147483705:1795533700.000200"


def post(client, name_or_body, headers=None):
    body = fixture_bytes(f"slack/{name_or_body}.json") if isinstance(name_or_body, str) else name_or_body
    return client.http.post(URL, body=body, headers=headers if headers is not None else slack_headers(body))


def stored(hub):
    return {i.external_id: i for i in hub.store.connector_interactions("slack-community", 20)}


def test_url_verification_is_answered_after_the_signature_check(client):
    body = fixture_bytes("slack/url_verification.json")
    response = post(client, "url_verification")
    assert response.status_code == 200
    assert response.body == b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    assert post(client, body, {"Content-Type": "application/json"}).status_code == 401


def test_message_is_stored_with_author_id_thread_and_permalink(client, workers, hub):
    assert post(client, "message").status_code == 200
    workers.drain()
    item = stored(hub)[KEY]
    assert item.kind == "post" and item.author.provider_user_id == "U2147483697"
    assert item.author.handle is None and item.author.display_name is None  # Slack sends an id only
    assert item.thread_id == KEY and item.parent_id is None
    assert item.url == "https://chorus-community.slack.com/archives/C2147483705/p1795533700000200"
    assert item.brand_matches == ["Chorus"] and item.language == "en"


def test_off_topic_messages_are_skipped_by_brand_listening(client, workers, hub):
    assert post(client, "thread_reply_off_topic").status_code == 200
    workers.drain()
    assert stored(hub) == {}
    assert hub.store.event_counts("slack-community").get("skipped_no_brand_match") == 1


def test_edit_updates_the_same_interaction_and_delete_removes_its_text(client, workers, hub):
    assert post(client, "message").status_code == 200
    assert post(client, "message_changed").status_code == 200
    workers.drain()
    [item] = stored(hub).values()
    assert "HubSpot sync too" in item.text and item.updated_at.timestamp() == 1795533900
    assert post(client, "message_deleted").status_code == 200
    workers.drain()
    [gone] = stored(hub).values()
    assert gone.deleted and gone.text is None and gone.sentiment is None
    assert int(gone.updated_at.timestamp()) == 1795534000
    assert all("standup" not in (i.text or "") for i in hub.store.person_interactions(gone.person_id))


def test_retries_with_x_slack_retry_num_are_stored_once(client, workers, hub):
    body = fixture_bytes("slack/message.json")
    for retry in (None, 1, 2):
        assert post(client, body, slack_headers(body, retry=retry)).status_code == 200
    workers.drain()
    [item] = stored(hub).values()
    assert hub.store.get_person(item.person_id).stats.interaction_count == 1


def test_bot_messages_are_skipped(client, workers, hub):
    assert post(client, "bot_message").status_code == 200
    workers.drain()
    assert stored(hub) == {}
    assert hub.store.event_counts("slack-community").get("skipped_bot_message") == 1


def test_signature_cases(client):
    body = fixture_bytes("slack/message.json")
    good = slack_headers(body)
    assert post(client, body.replace(b"Love it", b"Hate it"), good).status_code == 401
    assert post(client, body, {"Content-Type": "application/json"}).status_code == 401
    assert post(client, body, slack_headers(body, secret="wrong")).status_code == 401
    stale = slack_headers(body, timestamp=int(time.time()) - 301)
    response = post(client, body, stale)
    assert response.status_code == 401 and b"stale_timestamp" in response.body
    no_ts = {k: v for k, v in good.items() if k != "X-Slack-Request-Timestamp"}
    assert post(client, body, no_ts).status_code == 401


def test_tombstone_of_a_deleted_thread_parent_deletes_it_and_makes_no_slackbot_person(client, workers, hub):
    """A thread parent with replies, deleted: Slack sends message_changed whose message is a
    `tombstone` by USLACKBOT ("This message was deleted."), the original in previous_message."""
    from chalicelib.schema import IdentityRef

    assert post(client, "message").status_code == 200
    workers.drain()
    assert post(client, "message_changed_tombstone").status_code == 200
    workers.drain()
    [gone] = stored(hub).values()
    assert gone.external_id == KEY and gone.deleted and gone.text is None and gone.sentiment is None
    assert gone.brand_matches == [] and int(gone.updated_at.timestamp()) == 1795534100
    assert gone.author.provider_user_id == "U2147483697"
    assert hub.store.find_identities([IdentityRef(namespace="slack", value="USLACKBOT")]) == {}
    assert all(i.text is None for i in hub.store.person_interactions(gone.person_id))


def test_private_channel_and_group_dm_messages_are_not_public(client, workers, hub):
    assert post(client, "message_private_channel").status_code == 200
    assert post(client, "message_mpim").status_code == 200
    workers.drain()
    items = stored(hub)
    private = items["G0PR1VATE7:1795535000.000100"]
    group_dm = items["G0MP1MGRP9:1795535100.000100"]
    assert private.public is False and private.kind == "post"
    assert group_dm.public is False and group_dm.kind == "direct_message"
    person = hub.store.get_person(private.person_id)
    assert person.stats.public_positive_mentions == 0


def test_app_rate_limited_is_counted_not_dead_lettered(client, workers, hub):
    """Slack's app_rate_limited has no inner event (api.slack.com/events/app_rate_limited)."""
    assert post(client, "app_rate_limited").status_code == 200
    workers.drain()
    assert hub.store.event_counts("slack-community").get("skipped_rate_limited") == 1
    assert hub.store.dead_letters("slack-community", 10) == []


def test_a_nan_timestamp_is_refused_even_when_signed(client):
    """redteam #10: `abs(now - nan) > window` is False, so NaN slipped through the replay window."""
    body = fixture_bytes("slack/message.json")
    for stamp in ("nan", "NaN", "inf", "-inf"):
        from slack_sdk.signature import SignatureVerifier

        from tests.support.senders import SECRETS

        signature = SignatureVerifier(SECRETS["TEST_SLACK_SIGNING_SECRET"]).generate_signature(
            timestamp=stamp, body=body
        )
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
        }
        assert post(client, body, headers).status_code == 401
