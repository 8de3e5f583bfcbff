"""Facebook Page and Instagram webhooks through the real route, queue, worker and store."""

import json

from tests.support.senders import SECRETS, fixture_bytes
from tests.support.social_senders import meta_headers

FB, IG = "/webhooks/facebook-page", "/webhooks/instagram-brand"


def post(client, url, body: bytes, headers=None):
    return client.http.post(url, body=body, headers=headers if headers is not None else meta_headers(body))


def by_external(hub, connector):
    return {i.external_id: i for i in hub.store.connector_interactions(connector, 50)}


def test_handshake_echoes_the_challenge_as_text(client):
    token = SECRETS["TEST_META_VERIFY_TOKEN"]
    response = client.http.get(f"{FB}?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={token}")
    assert response.status_code == 200
    assert response.body == b"1158201444"
    assert response.headers["Content-Type"].startswith("text/plain")


def test_handshake_with_a_wrong_token_or_mode_is_403(client):
    assert (
        client.http.get(f"{FB}?hub.mode=subscribe&hub.challenge=1&hub.verify_token=guess").status_code == 403
    )
    token = SECRETS["TEST_META_VERIFY_TOKEN"]
    assert (
        client.http.get(f"{FB}?hub.mode=unsubscribe&hub.challenge=1&hub.verify_token={token}").status_code
        == 403
    )
    assert client.http.get(FB).status_code == 403


def test_batched_page_feed_keeps_good_changes_around_a_malformed_one(client, workers, hub):
    body = fixture_bytes("meta/page_feed_batch.json")
    assert post(client, FB, body).status_code == 200
    workers.drain()

    items = by_external(hub, "facebook-page")
    assert set(items) == {
        "822604713385990_1093485722214863",
        "104857392018465_822611180052266",
        "822612003385771",
    }  # the Page's own reply, the reaction and the broken change: not stored
    comment = items["822604713385990_1093485722214863"]
    assert comment.kind == "comment" and comment.author.display_name == "Maya Chen"
    assert comment.author.provider_user_id == "7391046285513327"
    assert comment.thread_id == "104857392018465_822604713385990" == comment.parent_id
    assert comment.url == "https://www.facebook.com/104857392018465/posts/pfbid02Xk7mQ9c"
    assert comment.language == "en" and comment.sentiment.label == "positive"
    assert comment.brand_matches == ["Chorus"]
    assert items["104857392018465_822611180052266"].kind == "post"
    review = items["822612003385771"]
    assert (
        review.kind == "review"
        and review.rating.value == 1.0
        and review.author.display_name == "Priya Natarajan"
    )
    counts = hub.store.event_counts("facebook-page")
    assert counts.get("skipped_malformed_entry") == 1 and counts.get("skipped_own_account") == 1


def test_removed_comment_leaves_no_text_behind(client, workers, hub):
    assert post(client, FB, fixture_bytes("meta/page_feed_batch.json")).status_code == 200
    workers.drain()
    assert post(client, FB, fixture_bytes("meta/page_feed_remove.json")).status_code == 200
    workers.drain()

    gone = by_external(hub, "facebook-page")["822604713385990_1093485722214863"]
    assert gone.deleted and gone.text is None and gone.sentiment is None and gone.brand_matches == []
    assert gone.updated_at.timestamp() == 1795537020
    stored = hub.store.person_interactions(gone.person_id)
    assert all("NPS follow-ups" not in (i.text or "") for i in stored)


def test_duplicate_delivery_is_stored_once(client, workers, hub):
    body = fixture_bytes("meta/page_feed_batch.json")
    for _ in range(2):
        assert post(client, FB, body).status_code == 200
    workers.drain()
    assert len(hub.store.connector_interactions("facebook-page", 50)) == 3
    person = hub.store.get_person(
        by_external(hub, "facebook-page")["822604713385990_1093485722214863"].person_id
    )
    assert person.stats.interaction_count == 1


def test_signature_cases(client):
    body = fixture_bytes("meta/page_feed_batch.json")
    assert (
        post(client, FB, body.replace(b"Great product", b"Awful product"), meta_headers(body)).status_code
        == 401
    )
    assert post(client, FB, body, {"Content-Type": "application/json"}).status_code == 401
    assert post(client, FB, body, meta_headers(body, secret="wrong")).status_code == 401
    sha1_only = {
        "Content-Type": "application/json",
        "X-Hub-Signature": meta_headers(body)["X-Hub-Signature-256"],
    }
    assert post(client, FB, body, sha1_only).status_code == 401


def test_instagram_comments_with_replies_and_an_id_only_mention(client, workers, hub):
    body = fixture_bytes("meta/instagram_comments.json")
    assert post(client, IG, body).status_code == 200
    workers.drain()

    items = by_external(hub, "instagram-brand")
    assert set(items) == {"17865799348089039", "17865799348089040"}
    first, reply = items["17865799348089039"], items["17865799348089040"]
    assert first.kind == "comment" and first.author.handle == "maya_builds"
    assert first.thread_id == "18023345989012587" == first.parent_id
    assert reply.parent_id == "17865799348089039" and reply.thread_id == "18023345989012587"
    person = hub.store.get_person(first.person_id)
    assert person.handles.get("instagram") == "maya_builds"


def test_page_delivery_sent_to_an_instagram_connector_is_skipped(client, workers, hub):
    body = fixture_bytes("meta/page_feed_batch.json")
    assert post(client, IG, body).status_code == 200
    workers.drain()
    assert hub.store.connector_interactions("instagram-brand", 10) == []


def test_messenger_messages_are_private_direct_messages(client, workers, hub):
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "104857392018465",
                    "time": 1795533600,
                    "messaging": [
                        {
                            "sender": {"id": "7391046285513327"},
                            "recipient": {"id": "104857392018465"},
                            "timestamp": 1795533599000,
                            "message": {"mid": "m_AbC123", "text": "Hi Chorus, can I get a demo?"},
                        },
                        {
                            "sender": {"id": "104857392018465"},
                            "recipient": {"id": "7391046285513327"},
                            "timestamp": 1795533600000,
                            "message": {"mid": "m_AbC124", "text": "Sure!", "is_echo": True},
                        },
                    ],
                }
            ],
        },
        indent=2,
    ).encode()
    assert post(client, FB, body).status_code == 200
    workers.drain()
    [dm] = hub.store.connector_interactions("facebook-page", 10)
    assert dm.kind == "direct_message" and dm.public is False and dm.external_id == "m_AbC123"


def test_second_and_later_edits_of_a_comment_are_not_taken_for_duplicates(client, workers, hub):
    """Page feed `edited` changes keep the comment's created_time; entry.time is when Meta sent it."""
    for name in ("page_feed_batch", "page_comment_edited_1", "page_comment_edited_2"):
        assert post(client, FB, fixture_bytes(f"meta/{name}.json")).status_code == 200
        workers.drain()
    comment = by_external(hub, "facebook-page")["822604713385990_1093485722214863"]
    assert comment.text == "Chorus is terrible, cancelling" and comment.sentiment.label == "negative"
    assert int(comment.updated_at.timestamp()) == 1795533700
    # a retry of the last edit is still one
    assert post(client, FB, fixture_bytes("meta/page_comment_edited_2.json")).status_code == 200
    workers.drain()
    assert hub.store.get_person(comment.person_id).stats.interaction_count == 1


def test_a_change_without_its_ids_is_a_malformed_entry(client, workers, hub):
    assert post(client, FB, fixture_bytes("meta/page_feed_without_ids.json")).status_code == 200
    workers.drain()
    assert "None" not in by_external(hub, "facebook-page")
    assert by_external(hub, "facebook-page") == {}
    assert hub.store.event_counts("facebook-page").get("skipped_malformed_entry") == 1


def test_whatsapp_delivery_to_a_page_connector_is_skipped_naming_the_right_provider(client, workers, hub):
    assert post(client, FB, fixture_bytes("meta/whatsapp_messages.json")).status_code == 200
    workers.drain()
    assert by_external(hub, "facebook-page") == {}
    assert hub.store.event_counts("facebook-page").get("skipped_unsupported_event") == 1
    assert hub.store.dead_letters("facebook-page", 10) == []


def test_whatsapp_business_messages_are_direct_messages_from_the_phone_number(client, workers, hub):
    assert (
        post(client, "/webhooks/whatsapp-business", fixture_bytes("meta/whatsapp_messages.json")).status_code
        == 200
    )
    assert (
        post(client, "/webhooks/whatsapp-business", fixture_bytes("meta/whatsapp_statuses.json")).status_code
        == 200
    )
    unsigned = {"Content-Type": "application/json"}
    body = fixture_bytes("meta/whatsapp_messages.json")
    assert post(client, "/webhooks/whatsapp-business", body, unsigned).status_code == 401
    workers.drain()
    [message] = by_external(hub, "whatsapp-business").values()
    assert message.kind == "direct_message" and message.public is False
    assert message.text == "Does Chorus come with a Salesforce connector?"
    assert message.author.phone == "+16505551234" and message.author.display_name == "Sheena Nelson"
    person = hub.store.get_person(message.person_id)
    assert "whatsapp#16505551234" in {r.key for r in person.identities}
    assert hub.store.event_counts("whatsapp-business").get("skipped_unsupported_event") == 1  # statuses
