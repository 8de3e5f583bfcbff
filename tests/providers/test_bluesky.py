"""Bluesky search results (postViews as the lexicon documents them) through the listener, the
queue, the worker and the store."""

from __future__ import annotations

import json

import pytest
import responses

from tests.support.listener_fakes import FakeBlueskySearch, bsky_post, poll
from tests.support.senders import fixture_bytes

SEARCH = "https://appview.test/xrpc/app.bsky.feed.searchPosts"
DOCUMENTED = json.loads(fixture_bytes("bluesky/search_posts.json"))["posts"]


@pytest.fixture
def appview():
    fake = FakeBlueskySearch()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, SEARCH, callback=fake)
        yield fake


def test_a_post_and_a_reply_become_interactions(lhub, appview, workers):
    appview.posts = DOCUMENTED
    assert poll(lhub, "bsky-brand").found == 2
    workers.drain()
    stored = {i.external_id: i for i in lhub.store.connector_interactions("bsky-brand", 10)}
    post = stored["at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3lbq7xk2vns2c"]
    reply = stored["at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3lbq8aa4bcs2k"]
    assert post.kind == "post" and reply.kind == "comment" and reply.parent_id == post.external_id
    assert reply.thread_id == post.external_id and post.key == f"bsky:{post.external_id}"
    assert post.url == "https://bsky.app/profile/maya.builds.example/post/3lbq7xk2vns2c"
    assert post.author.provider_user_id == "did:plc:z72i7hdynmk6r22z27h6tvur" and post.public
    assert post.brand_matches == ["Chorus"] and post.sentiment.label == "positive"
    person = lhub.store.get_person(post.person_id)
    assert {r.key for r in person.identities} == {
        "bsky#did:plc:z72i7hdynmk6r22z27h6tvur",
        "bsky_handle#maya.builds.example",
    }


def test_windows_meet_exactly_and_pages_follow_the_cursor(lhub, appview):
    appview.posts = [bsky_post(i, f"2026-11-30T10:{i:02d}:00.000Z", f"Chorus note {i}") for i in range(5)]
    first = poll(lhub, "bsky-brand")
    assert first.found == 5 and first.calls == 3  # pages of 2: ceil(5/2)
    assert {c.get("cursor") for c in appview.calls} == {None, "2", "4"}
    [(since, until)] = {(c["since"], c["until"]) for c in appview.calls}  # one fixed window
    appview.calls.clear()
    assert poll(lhub, "bsky-brand").found == 0 and len(appview.calls) == 1  # empty: one call
    assert appview.calls[0]["since"] == until  # the next window starts where this one ended
