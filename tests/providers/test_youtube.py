"""YouTube WebSub notifications through the real route, queue, worker and store."""

from urllib.parse import parse_qsl, urlencode

import pytest
import responses

from tests.support.senders import SECRETS, fixture_bytes
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


HUB = "https://pubsubhubbub.appspot.com/subscribe"


@pytest.fixture
def subscribing(aws, use_connectors, tmp_path):
    """The connectors with a youtube-creators that subscribes itself (options.callback_url)."""
    import shutil

    from chalicelib.runtime.aws import get_hub
    from tests.conftest import TEST_CONNECTORS

    folder = tmp_path / "connectors"
    shutil.copytree(TEST_CONNECTORS, folder)
    path = folder / "youtube-creators.yaml"
    path.write_text(
        path.read_text().replace(
            "options:\n", "options:\n  callback_url: https://hooks.example.com/webhooks/youtube-creators\n"
        )
    )
    use_connectors(folder)
    return get_hub()


@pytest.fixture
def google_hub():
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, HUB, status=202)
        yield mock


def hub_form(call) -> dict[str, str]:
    return dict(parse_qsl(call.request.body))


def test_unsubscribe_chorus_did_not_ask_for_is_404_and_the_feed_keeps_working(client, workers, hub):
    """WebSub 5.3.1: "If the subscriber does not agree with the action, the subscriber MUST
    respond with a 404"; anyone can ask the hub to unsubscribe a callback."""
    assert verification(client, **{"hub.mode": "unsubscribe"}).status_code == 404
    assert post(client, fixture_bytes("youtube/video_published.xml")).status_code == 200
    workers.drain()
    assert hub.store.connector_interactions("youtube-creators", 10)


def test_unsubscribe_chorus_asked_for_is_confirmed_and_never_renewed(subscribing, client, google_hub):
    hub = subscribing
    from chalicelib.websub import renew_websub, request

    connector = hub.connectors.get("youtube-creators")
    request(hub, connector, "unsubscribe")
    form = hub_form(google_hub.calls[0])
    assert form == {
        "hub.callback": "https://hooks.example.com/webhooks/youtube-creators",
        "hub.topic": TOPIC,
        "hub.mode": "unsubscribe",
        "hub.verify": "async",
    }
    response = verification(client, **{"hub.mode": "unsubscribe"})
    assert response.status_code == 200 and response.body == b"14829375617483"
    # a subscribe verification now (someone re-subscribing us) is not wanted either
    assert verification(client).status_code == 404
    assert renew_websub(hub).renewed == [] and len(google_hub.calls) == 1


def test_lease_is_renewed_before_it_lapses(subscribing, client, google_hub):
    hub = subscribing
    import time

    from chalicelib.websub import lease_expires_at, renew_websub

    assert verification(client).status_code == 200  # the hub confirms a 432000 s lease
    expires = lease_expires_at(hub, "youtube-creators")
    assert abs(expires - (time.time() + 432000)) < 60
    assert renew_websub(hub).renewed == []  # five days left: not due
    outcome = renew_websub(hub, now=expires - 3600)  # an hour before it lapses
    assert outcome.renewed == ["youtube-creators"]
    form = hub_form(google_hub.calls[0])
    assert form["hub.mode"] == "subscribe" and form["hub.topic"] == TOPIC
    assert form["hub.lease_seconds"] == "864000" and form["hub.secret"] == SECRETS["TEST_YOUTUBE_HUB_SECRET"]
    assert renew_websub(hub, now=expires - 3000).renewed == []  # asked already: wait for the hub


def test_renewal_is_a_scheduled_job_locally_and_on_aws():
    import app
    from chalicelib.jobs import registered

    assert "chalicelib.websub:renew_websub" in {job.target for job in registered()}
    assert callable(app.renew_websub)


def test_the_echoed_challenge_is_never_sniffed_as_html(client):
    response = verification(client, **{"hub.challenge": "<script>alert(1)</script>"})
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Type"].startswith("text/plain")
