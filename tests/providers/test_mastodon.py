"""Mastodon hashtag timelines (Status entities as documented) through the listener, the queue,
the worker and the store."""

from __future__ import annotations

import json

import pytest
import responses

from tests.support.listener_fakes import NOW, FakeMastodonTimeline, mastodon_status, poll
from tests.support.senders import fixture_bytes

TIMELINE = "https://mastodon.example/api/v1/timelines/tag/chorus"
DOCUMENTED = json.loads(fixture_bytes("mastodon/tag_timeline.json"))
NOW_ID = int(NOW.timestamp() * 1000) << 16


@pytest.fixture
def instance():
    fake = FakeMastodonTimeline()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, TIMELINE, callback=fake)
        yield fake


def test_a_status_becomes_a_post_and_a_boost_is_skipped(lhub, instance, workers):
    instance.statuses = DOCUMENTED
    assert poll(lhub, "mastodon-tags").found == 2
    workers.drain()
    [post] = lhub.store.connector_interactions("mastodon-tags", 10)
    assert (
        post.kind == "post"
        and post.public
        and post.url == "https://fosstodon.example/@maya/117704854798340497"
    )
    assert post.text.startswith("Three weeks on #Chorus") and post.brand_matches == ["Chorus"]
    assert post.author.provider_user_id == "maya@fosstodon.example" and post.author.followers == 842
    assert post.key == "https://fosstodon.example/users/maya/statuses/117704854798340497"
    assert lhub.store.event_counts("mastodon-tags")["skipped_repost"] == 1
    person = lhub.store.get_person(post.person_id)
    assert {r.key for r in person.identities} == {"mastodon#maya@fosstodon.example"}


def test_the_cursor_walks_forward_and_an_empty_poll_costs_one_call(lhub, instance):
    instance.statuses = [mastodon_status(NOW_ID - 1000 + i, f"#Chorus note {i}") for i in range(5)]
    first = poll(lhub, "mastodon-tags")
    assert first.found == 5 and first.calls == 3  # pages of 2: ceil(5/2)
    assert lhub.store.get_cursor("mastodon-tags", "#chorus").position == str(NOW_ID - 996)
    instance.calls.clear()
    assert poll(lhub, "mastodon-tags").found == 0 and len(instance.calls) == 1
    assert instance.calls[0]["min_id"] == str(NOW_ID - 996)


def test_a_backfill_with_since_keeps_the_later_cursor(lhub, instance):
    from datetime import timedelta

    instance.statuses = [mastodon_status(NOW_ID - 10, "#Chorus newest")]
    poll(lhub, "mastodon-tags")
    instance.statuses = [mastodon_status(NOW_ID - (7200_000 << 16), "#Chorus older")]  # newest deleted
    backfill = poll(lhub, "mastodon-tags", since=NOW - timedelta(hours=3))
    assert [s["content"] for s in backfill.feeds[0].items] == ["<p>#Chorus older</p>"]
    assert lhub.store.get_cursor("mastodon-tags", "#chorus").position == str(NOW_ID - 10)


def test_a_spent_rate_limit_pauses_that_instance(lhub, instance):
    instance.statuses = [mastodon_status(NOW_ID - 10, "#Chorus")]
    instance.remaining = 0
    poll(lhub, "mastodon-tags")
    calls = len(instance.calls)
    again = poll(lhub, "mastodon-tags")  # X-RateLimit-Remaining 0 until the reset: no call
    assert again.feeds[0].throttled and len(instance.calls) == calls
