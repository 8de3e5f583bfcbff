"""ListenerCursors and InteractionKeys, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.store.listener_cursors import ListenerCursor


def test_a_cursor_is_kept_per_connector_and_feed_as_given(store):
    assert store.get_cursor("rss-news", "https://a.example/feed") is None
    when = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    cursor = ListenerCursor(
        "rss-news",
        "https://a.example/feed",
        position='{"etag": "W/\\"5e\\""}',
        resume="page-2",
        resume_position="42",
        last_run_at=when,
        failures=2,
        last_error="HTTP 503",
        found=7,
    )
    store.put_cursor(cursor)
    store.put_cursor(ListenerCursor("rss-news", "https://b.example/feed", position="b"))
    store.put_cursor(ListenerCursor("hn-brand", "Chorus", position="1796030102"))
    assert store.get_cursor("rss-news", "https://a.example/feed") == cursor
    assert [c.feed for c in store.connector_cursors("rss-news")] == [
        "https://a.example/feed",
        "https://b.example/feed",
    ]
    cursor.position, cursor.resume, cursor.failures = "later", None, 0
    store.put_cursor(cursor)  # a put replaces
    assert store.get_cursor("rss-news", "https://a.example/feed").position == "later"
    assert store.connector_cursors("nobody") == []


def test_an_interaction_key_is_claimed_once_and_follows_its_interaction(store):
    key = "https://blog.example.com/chorus-review"
    assert store.find_interaction_key(key) is None
    assert store.claim_interaction_key(key, "p1", "ix1") == ("p1", "ix1")
    assert store.claim_interaction_key(key, "p2", "ix2") == ("p1", "ix1")  # another interaction: refused
    assert store.claim_interaction_key(key, "p3", "ix1") == ("p3", "ix1")  # the same one moved (a merge)
    assert store.find_interaction_key(key) == ("p3", "ix1")
    store.delete_interaction_key(key, "ix2")  # not the holder: nothing happens
    assert store.find_interaction_key(key) == ("p3", "ix1")
    store.delete_interaction_key(key, "ix1")
    assert store.find_interaction_key(key) is None
    long_key = "https://example.com/" + "x" * 3000  # past DynamoDB's 2,048-byte key limit
    assert store.claim_interaction_key(long_key, "p1", "ix9") == ("p1", "ix9")
