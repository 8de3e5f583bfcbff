"""RSS and Atom feeds (a blog's RSS 2.0 feed, a Google Alerts Atom feed) through the listener,
the queue, the worker and the store; conditional GETs, edits, and a broken feed among good ones."""

from __future__ import annotations

import pytest
import responses

from tests.support.listener_fakes import poll
from tests.support.senders import fixture_bytes

BLOG = "https://blog.example.com/feed.xml"
ALERTS = "https://www.google.com/alerts/feeds/00857187625423417066/1146593297484651582"
BROKEN = "https://broken.example.net/feed"


class FeedServer:
    """Serves feeds as a web server does: ETag and Last-Modified, 304 to a matching conditional GET."""

    def __init__(self):
        self.bodies = {
            BLOG: fixture_bytes("rss/blog.xml"),
            ALERTS: fixture_bytes("rss/google_alerts.xml"),
            BROKEN: b"<html><body>Moved to our new site!</body></html>",
        }
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, request):
        url = request.url
        self.calls.append((url, dict(request.headers)))
        body = self.bodies[url]
        etag = f'"{abs(hash(body))}"'
        if request.headers.get("If-None-Match") == etag:
            return 304, {"ETag": etag}, b""
        kind = "text/html" if url == BROKEN else "application/rss+xml; charset=utf-8"
        return (
            200,
            {"Content-Type": kind, "ETag": etag, "Last-Modified": "Mon, 30 Nov 2026 07:41:12 GMT"},
            body,
        )


@pytest.fixture
def feeds():
    server = FeedServer()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for url in server.bodies:
            mock.add_callback(responses.GET, url, callback=server)
        yield server


def stored(hub):
    return {i.key: i for i in hub.store.connector_interactions("rss-news", 50)}


def test_a_blog_post_and_its_google_alert_are_one_interaction(lhub, feeds, workers):
    outcome = poll(lhub, "rss-news")
    found = {f.feed: f for f in outcome.feeds}
    assert found[BLOG].found == 2 and found[ALERTS].found == 2
    workers.drain()
    items = stored(lhub)
    post = items["https://blog.example.com/2026/11/nps-loop-chorus"]  # utm_* dropped, alert unwrapped
    assert post.kind == "post" and post.public and post.brand_matches == ["Chorus"]
    assert post.text.startswith("Why we moved our NPS loop to Chorus") and "<b>" not in post.text
    assert (
        post.author.display_name == "Maya Chen"
        and post.url == "https://blog.example.com/2026/11/nps-loop-chorus"
    )
    assert post.occurred_at.isoformat() == "2026-11-29T18:20:00+00:00"
    news = items["https://news.example.org/startups/chorus-seed"]
    assert news.text.startswith("Chorus raises seed round")
    assert "https://blog.example.com/2026/11/sourdough" not in items  # names no brand term
    assert len(items) == 2 and lhub.store.event_counts("rss-news")["skipped_no_brand_match"] == 1


def test_a_malformed_feed_fails_alone_and_the_other_feeds_advance(lhub, feeds):
    outcome = poll(lhub, "rss-news")
    broken = next(f for f in outcome.feeds if f.feed == BROKEN)
    assert broken.error and "not an RSS or Atom feed" in broken.error
    cursor = lhub.store.get_cursor("rss-news", BROKEN)
    assert cursor.failures == 1 and cursor.position is None and "not an RSS" in cursor.last_error
    assert lhub.store.get_cursor("rss-news", BLOG).position is not None
    assert lhub.store.get_cursor("rss-news", ALERTS).last_error is None


def test_an_unchanged_feed_costs_one_conditional_call_and_queues_nothing(lhub, feeds):
    poll(lhub, "rss-news")
    feeds.calls.clear()
    again = {f.feed: f for f in poll(lhub, "rss-news").feeds}
    assert again[BLOG].found == 0 and again[BLOG].calls == 1
    blog_calls = [h for url, h in feeds.calls if url == BLOG]
    assert len(blog_calls) == 1 and blog_calls[0]["If-None-Match"]
    assert blog_calls[0]["If-Modified-Since"] == "Mon, 30 Nov 2026 07:41:12 GMT"


def test_a_changed_feed_queues_only_the_new_and_the_edited_entries(lhub, feeds, workers):
    poll(lhub, "rss-news")
    workers.drain()
    feeds.bodies[BLOG] = feeds.bodies[BLOG].replace(
        b"<item>",
        b"<item><title>Chorus release notes</title><link>https://blog.example.com/2026/11/notes/</link>"
        b"<guid>https://blog.example.com/?p=1850</guid><pubDate>Mon, 30 Nov 2026 10:00:00 GMT</pubDate>"
        b"<description>Chorus 2.0 is out.</description></item><item>",
        1,
    )
    feeds.bodies[BLOG] = (
        feeds.bodies[BLOG]
        .replace(
            b"<pubDate>Sun, 29 Nov 2026 18:20:00 GMT</pubDate>",
            b"<pubDate>Sun, 29 Nov 2026 18:20:00 GMT</pubDate><atom:updated>2026-11-30T11:00:00Z</atom:updated>",
        )
        .replace(b"we love it.", b"we love it. (Updated: a year on, still true.)")
    )
    blog = next(f for f in poll(lhub, "rss-news").feeds if f.feed == BLOG)
    assert sorted(i["id"] for i in blog.items) == [
        "https://blog.example.com/?p=1841",
        "https://blog.example.com/?p=1850",
    ]
    workers.drain()
    items = stored(lhub)
    assert "still true" in items["https://blog.example.com/2026/11/nps-loop-chorus"].text
    assert len(items) == 3  # the edit updated its interaction; the new entry is the third
