"""One post, one interaction, however it arrives (pipeline/crosskey.py, providers/permalink.py),
and a deletion that finds its target by key, not through its author (issue 12 item 17)."""

from __future__ import annotations

import re

import pytest
import responses

from chalicelib.providers.permalink import canonical_permalink
from chalicelib.schema import IdentityRef
from tests.support.listener_fakes import T0, FakeAlgolia, hn_hit, poll
from tests.support.senders import fixture_bytes
from tests.support.social_senders import websub_headers

YOUTUBE = "/webhooks/youtube-creators"


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://WWW.Example.COM:443/Post/?utm_source=x&b=2&a=1#top", "https://example.com/Post?a=1&b=2"),
        ("http://example.com/post?fbclid=abc&gclid=1&mc_cid=2", "https://example.com/post"),
        (
            "https://www.google.com/url?rct=j&sa=t&url=https://blog.example.com/chorus%3Futm_medium%3Demail"
            "&ct=ga&cd=CAIyGjQ&usg=AOvVaw0",
            "https://blog.example.com/chorus",
        ),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("ftp://example.com/file", None),
        ("not a url", None),
        ("https://[::1", None),
    ],
)
def test_canonical_permalink(url, canonical):
    assert canonical_permalink(url) == canonical


def test_two_connectors_that_find_one_post_store_one_interaction_naming_both(lhub, workers):
    hit = hn_hit(31, T0, "Acme vs Chorus: a comparison")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, "https://hn.test/api/v1/search_by_date", callback=FakeAlgolia([hit]))
        mock.add_callback(
            responses.GET, "https://hn-mirror.test/api/v1/search_by_date", callback=FakeAlgolia([hit])
        )
        poll(lhub, "hn-brand")
        workers.drain()
        poll(lhub, "hn-other")  # finds it twice more: once per query (Chorus, Acme)
        workers.drain()
    [only] = lhub.store.connector_interactions("hn-brand", 10)
    assert lhub.store.connector_interactions("hn-other", 10) == []
    assert only.seen_by == ["hn-brand", "hn-other"] and only.key == "hn:item:31"
    assert lhub.store.get_person(only.person_id).stats.interaction_count == 1


def _published_then_deleted(client, workers, deletion: bytes):
    published = fixture_bytes("youtube/video_published.xml")
    assert client.http.post(YOUTUBE, body=published, headers=websub_headers(published)).status_code == 200
    workers.drain()
    assert client.http.post(YOUTUBE, body=deletion, headers=websub_headers(deletion)).status_code == 200
    workers.drain()


def test_a_deletion_without_its_author_still_removes_the_original(client, workers, hub):
    deletion = re.sub(rb"\s*<at:by>.*?</at:by>", b"", fixture_bytes("youtube/video_deleted.xml"), flags=re.S)
    assert b"at:by" not in deletion
    _published_then_deleted(client, workers, deletion)
    [video] = hub.store.connector_interactions("youtube-creators", 10)
    assert video.deleted and video.text is None and video.brand_matches == []
    person = hub.store.get_person(video.person_id)
    assert person.identities  # the channel's person, not an anonymous one made for the deletion
    assert all(not i.text for i in hub.store.person_interactions(video.person_id))


def test_a_deletion_naming_another_author_still_removes_the_original(client, workers, hub):
    deletion = fixture_bytes("youtube/video_deleted.xml").replace(
        b"UCq7Xbn4Kd0mTQe2hY5wR9vA", b"UCsomeoneelse0000000000"
    )
    _published_then_deleted(client, workers, deletion)
    [video] = hub.store.connector_interactions("youtube-creators", 10)
    assert video.deleted and video.text is None
    stray = IdentityRef(namespace="youtube", value="UCsomeoneelse0000000000")
    assert hub.store.find_identities([stray]) == {}  # the deletion's stray author was not made a person


def test_an_erased_post_does_not_come_back_through_another_connector(lhub, workers):
    from chalicelib.privacy import erase_person

    hit = hn_hit(41, T0, "Chorus changed how we do NPS")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, "https://hn.test/api/v1/search_by_date", callback=FakeAlgolia([hit]))
        mock.add_callback(
            responses.GET, "https://hn-mirror.test/api/v1/search_by_date", callback=FakeAlgolia([hit])
        )
        poll(lhub, "hn-brand")
        workers.drain()
        [stored] = lhub.store.connector_interactions("hn-brand", 10)
        assert erase_person(lhub, stored.person_id) is not None
        assert lhub.store.find_interaction_key("hn:item:41") is None
        hit["author"] = "someone_else"  # even without the erased author, the post stays erased
        poll(lhub, "hn-other")
        workers.drain()
    assert lhub.store.connector_interactions("hn-other", 10) == []
    assert lhub.store.event_counts("hn-other")["skipped_erased"] >= 1


def test_a_comment_seen_as_a_comment_and_as_a_mention_is_one_interaction(lhub, client, workers):
    """Two Instagram accounts: a fan's comment on the partner's post names the brand. The
    partner's connector gets it as a `comments` change, the brand's as a `mentions` change (ids
    only, fetched): one interaction, keyed on the Graph comment id, naming both connectors."""
    import json

    from tests.providers.test_meta_mentions import GRAPH, graph
    from tests.support.social_senders import meta_headers

    comment = {
        "object": "instagram",
        "entry": [
            {
                "id": "17841400000000077",  # the partner's account
                "time": 1795533890,
                "changes": [
                    {
                        "field": "comments",
                        "value": {
                            "from": {"id": "17841411112222333", "username": "maya_builds"},
                            "media": {"id": "17918195224117851", "media_product_type": "FEED"},
                            "id": "17894227972186120",
                            "text": "@chorus_hq the new advocate scores are brilliant, thank you!",
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(comment).encode()
    mention = fixture_bytes("meta/instagram_mentions.json")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://localhost")
        mock.add_callback(responses.GET, GRAPH, callback=graph([]))
        assert (
            client.http.post("/webhooks/instagram-partner", body=body, headers=meta_headers(body)).status_code
            == 200
        )
        assert (
            client.http.post(
                "/webhooks/instagram-mentions", body=mention, headers=meta_headers(mention)
            ).status_code
            == 200
        )
        workers.drain()
    [seen_twice] = [
        i
        for c in ("instagram-partner", "instagram-mentions")
        for i in lhub.store.connector_interactions(c, 10)
        if i.external_id == "17894227972186120"
    ]
    assert seen_twice.key == "instagram:17894227972186120"
    assert sorted(seen_twice.seen_by) == ["instagram-mentions", "instagram-partner"]
