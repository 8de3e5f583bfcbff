"""YouTube WebSub notifications through the real route, queue, worker and store."""

from urllib.parse import urlencode

from tests.support.senders import fixture_bytes
from tests.support.social_senders import websub_headers

URL = "/webhooks/youtube-creators"
TOPIC = "https://www.youtube.com/xml/feeds/videos.xml?channel_id=UCq7Xbn4Kd0mTQe2hY5wR9vA"


def post(client, body: bytes, headers=None):
    return client.http.post(URL, body=body, headers=headers if headers is not None else websub_headers(body))


def verification(client, **params):
    query = {
        "hub.mode": "subscribe",
        "hub.topic": TOPIC,
        "hub.challenge": "14829375617483",
        "hub.lease_seconds": "432000",
        **params,
    }
    return client.http.get(f"{URL}?{urlencode(query)}")


def test_verification_echoes_the_challenge_for_the_configured_channel(client):
    response = verification(client)
    assert response.status_code == 200 and response.body == b"14829375617483"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert verification(client, **{"hub.mode": "unsubscribe"}).status_code == 200


def test_verification_for_another_channel_or_without_challenge_is_refused(client):
    other = "https://www.youtube.com/xml/feeds/videos.xml?channel_id=UCsomeoneelse0000000000"
    assert verification(client, **{"hub.topic": other}).status_code == 403
    assert verification(client, **{"hub.challenge": ""}).status_code == 403


def test_new_video_is_a_post_and_a_malformed_entry_is_skipped(client, workers, hub):
    assert post(client, fixture_bytes("youtube/video_published.xml")).status_code == 200
    workers.drain()
    [video] = hub.store.connector_interactions("youtube-creators", 10)
    assert video.kind == "post" and video.external_id == "Hq3vX9bK2mA"
    assert (
        video.author.provider_user_id == "UCq7Xbn4Kd0mTQe2hY5wR9vA"
        and video.author.display_name == "Maya Builds"
    )
    assert video.url == "http://www.youtube.com/watch?v=Hq3vX9bK2mA"
    assert video.brand_matches == ["Chorus"]
    assert hub.store.event_counts("youtube-creators").get("skipped_malformed_entry") == 1


def test_repeated_notification_is_stored_once(client, workers, hub):
    body = fixture_bytes("youtube/video_published.xml")
    for _ in range(2):
        assert post(client, body).status_code == 200
    workers.drain()
    [video] = hub.store.connector_interactions("youtube-creators", 10)
    assert hub.store.get_person(video.person_id).stats.interaction_count == 1


def test_deleted_entry_tombstones_the_video(client, workers, hub):
    assert post(client, fixture_bytes("youtube/video_published.xml")).status_code == 200
    workers.drain()
    assert post(client, fixture_bytes("youtube/video_deleted.xml")).status_code == 200
    workers.drain()
    [video] = hub.store.connector_interactions("youtube-creators", 10)
    assert video.deleted and video.text is None
    assert video.updated_at.isoformat().startswith("2026-11-24T18:02:11")
    assert all("walkthrough" not in (i.text or "") for i in hub.store.person_interactions(video.person_id))


def test_signature_and_body_cases(client):
    body = fixture_bytes("youtube/video_published.xml")
    assert post(client, body.replace(b"full walkthrough", b"scam"), websub_headers(body)).status_code == 401
    assert post(client, body, {"Content-Type": "application/atom+xml"}).status_code == 401
    assert post(client, body, websub_headers(body, secret="wrong")).status_code == 401
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><feed>&a;</feed>'
    assert post(client, bomb, websub_headers(bomb)).status_code == 400
    assert post(client, b"<feed>", websub_headers(b"<feed>")).status_code == 400
