"""Hacker News hits (shaped after HN Search's documented answer) through the listener, the
queue, the worker and the store."""

from __future__ import annotations

import json

import responses

from tests.support.listener_fakes import NOW, FakeAlgolia, poll
from tests.support.senders import fixture_bytes

DOCUMENTED = json.loads(fixture_bytes("hackernews/search_by_date.json"))["hits"]


def run(lhub, workers, hits):
    fake = FakeAlgolia(hits=hits)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, "https://hn.test/api/v1/search_by_date", callback=fake)
        outcome = poll(lhub, since=NOW.replace(day=29))
    workers.drain()
    return outcome, {i.external_id: i for i in lhub.store.connector_interactions("hn-brand", 50)}


def test_a_comment_and_a_story_become_interactions(lhub, workers):
    _, stored = run(lhub, workers, DOCUMENTED)
    comment, story = stored["41928377"], stored["41928102"]
    assert comment.kind == "comment" and story.kind == "post"
    assert comment.text.startswith("We moved our NPS follow-ups to Chorus") and "<i>" not in comment.text
    assert comment.url == "https://news.ycombinator.com/item?id=41928377" and comment.public is True
    assert comment.thread_id == "41928340" and comment.parent_id == "41928340"
    assert comment.author.handle == "mayab" and comment.key == "hn:item:41928377"
    assert comment.brand_matches == ["Chorus"] and comment.seen_by == ["hn-brand"]
    assert story.text.startswith("Show HN: Chorus") and story.occurred_at.timestamp() == 1796025704
    person = lhub.store.get_person(comment.person_id)
    assert {r.key for r in person.identities} == {"hn#mayab", "hn_handle#mayab"}


def test_a_hit_that_names_no_brand_term_is_not_kept(lhub, workers):
    unrelated = dict(DOCUMENTED[0], objectID="41928999")
    unrelated["comment_text"] = "Nothing to do with any product here"
    unrelated["url"] = "https://example.com/chorus"  # Algolia matched the URL, the words do not name it
    _, stored = run(lhub, workers, [unrelated])
    assert stored == {}
    assert lhub.store.event_counts("hn-brand")["skipped_no_brand_match"] == 1
