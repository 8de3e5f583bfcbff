"""7. Listeners: items/s from a listened-to API through the listener into the ingest queue.

The API answers from memory (no network, no `responses`), the cursors and budgets sit in a
SQLite store, the queue is a list: what is measured is the listener's own work per item (page
parsing, envelope building, queueing) and per call (budget, cursor writes). Also prints the
calls each poll cost against the ceil(N / page size) + 1 target.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .common import FakeBlobs, FakeQueue, table, use_test_environment, write_result
from .timing import timed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class Answer:
    def __init__(self, body: bytes, headers: dict[str, str] | None = None):
        self.status_code, self.content, self.headers = 200, body, headers or {}

    def json(self) -> Any:
        return json.loads(self.content)


class MemoryAlgolia:
    """search_by_date over an in-memory index, newest first (the test fake's semantics)."""

    def __init__(self, hits: list[dict]):
        self.hits = sorted(hits, key=lambda h: h["created_at_i"], reverse=True)
        self.calls = 0

    def request(self, method: str, url: str, params: dict | None = None, **_: Any) -> Answer:
        self.calls += 1
        params = {k: str(v) for k, v in (params or {}).items()} or {
            k: v[0] for k, v in parse_qs(urlsplit(url).query).items()
        }
        low, high = (int(re.sub(r"\D", "", f)) for f in params["numericFilters"].split(","))
        matched = [h for h in self.hits if low < h["created_at_i"] <= high]
        window = matched[:1000]  # Algolia pages the first 1,000 hits; nbHits is the true count
        size, page = int(params["hitsPerPage"]), int(params["page"])
        body = {
            "hits": window[page * size : (page + 1) * size],
            "nbHits": len(matched),
            "nbPages": -(-len(window) // size),
        }
        return Answer(json.dumps(body).encode())


class MemoryFeed:
    def __init__(self, body: bytes):
        self.body, self.calls = body, 0

    def request(self, method: str, url: str, **_: Any) -> Answer:
        self.calls += 1
        return Answer(self.body, {"Content-Type": "application/rss+xml"})


class MemoryListing:
    """A listing served newest first from memory, paged by an offset token (YouTube comment
    threads, App Store and Google Play reviews); a POST is an OAuth token request."""

    def __init__(self, items: list[dict], size_param: str, token_param: str, answer: Any):
        self.items, self.size_param, self.token_param, self.answer = items, size_param, token_param, answer
        self.calls = 0

    def request(self, method: str, url: str, params: dict | None = None, **_: Any) -> Answer:
        if method == "POST":
            return Answer(json.dumps({"access_token": "bench-token", "expires_in": 3599}).encode())
        self.calls += 1
        query = {k: str(v) for k, v in (params or {}).items()} or {
            k: v[0] for k, v in parse_qs(urlsplit(url).query).items()
        }
        size, start = int(query[self.size_param]), int(query.get(self.token_param) or 0)
        following = str(start + size) if start + size < len(self.items) else None
        body = self.answer(self.items[start : start + size], following, size, url.split("?", 1)[0])
        return Answer(json.dumps(body).encode())


def _fixture(name: str) -> Any:
    from tests.support.senders import fixture_json

    return fixture_json(name)


def _threads(n: int) -> MemoryListing:
    base = _fixture("youtube_comments/comment_threads.json")["items"][0]
    start = int(NOW.timestamp()) - 3 * 3600
    items = []
    for i in reversed(range(n)):
        item = json.loads(json.dumps(base))
        item["id"] = item["snippet"]["topLevelComment"]["id"] = f"Ugz{i:010d}"
        stamp = datetime.fromtimestamp(start + i, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        item["snippet"]["topLevelComment"]["snippet"].update(publishedAt=stamp, updatedAt=stamp)
        for reply in item["replies"]["comments"]:
            reply["id"] = f"{item['id']}.r"
        items.append(item)
    return MemoryListing(
        items,
        "maxResults",
        "pageToken",
        lambda page, following, size, url: {"items": page, "nextPageToken": following},
    )


def _app_store(n: int) -> MemoryListing:
    base = _fixture("app_store_reviews/customer_reviews.json")["data"][0]
    start = int(NOW.timestamp()) - 3 * 3600
    items = []
    for i in reversed(range(n)):
        item = json.loads(json.dumps(base))
        item["id"] = f"00000028-b08c-0014-729e-{i:012d}"
        item["attributes"]["createdDate"] = datetime.fromtimestamp(start + i, UTC).isoformat()
        items.append(item)

    def answer(page: list, following: str | None, size: int, url: str) -> dict:
        links = {"next": f"{url}?limit={size}&cursor={following}"} if following else {}
        return {"data": page, "links": links}

    return MemoryListing(items, "limit", "cursor", answer)


def _play(n: int) -> MemoryListing:
    base = _fixture("google_play_reviews/reviews_list.json")["reviews"][1]
    start = int(NOW.timestamp()) - 3 * 3600
    items = []
    for i in reversed(range(n)):
        item = json.loads(json.dumps(base))
        item["reviewId"] = f"gp{i:010d}"
        item["comments"][0]["userComment"]["lastModified"] = {"seconds": str(start + i), "nanos": 0}
        items.append(item)
    return MemoryListing(
        items,
        "maxResults",
        "token",
        lambda page, following, size, url: {
            "reviews": page,
            **({"tokenPagination": {"nextPageToken": following}} if following else {}),
        },
    )


def _hub(http: Any, store_dir: str):
    from chalicelib.config.loader import load_directory
    from chalicelib.hub import Hub
    from chalicelib.store.sqlite import SqliteStore
    from tests.support.paths import LISTENING_CONNECTORS

    hub = Hub(
        connectors=load_directory(LISTENING_CONNECTORS),
        store=SqliteStore(Path(store_dir) / "bench.sqlite3"),
        ingest_queue=FakeQueue(),
        sync_queue=FakeQueue(),
        blobs=FakeBlobs(),
        clock=lambda: NOW,
    )
    hub._http = http
    return hub


def _hits(n: int) -> list[dict]:
    start = int(NOW.timestamp()) - 3 * 3600
    return [
        {
            "objectID": str(40_000_000 + i),
            "created_at_i": start + i,
            "author": f"user{i % 500}",
            "comment_text": f"<p>Comment {i} about Chorus and how our NPS follow-ups work now.</p>",
            "story_id": 39_999_000,
            "parent_id": 39_999_000,
            "_tags": ["comment", f"author_user{i % 500}"],
            "updated_at": "2026-11-30T09:00:00Z",
        }
        for i in range(n)
    ]


def _rss(entries: int) -> bytes:
    items = "".join(
        f"<item><title>Post {i} on Chorus</title><link>https://blog.example.com/{i}/?utm_source=rss</link>"
        f"<guid>https://blog.example.com/?p={i}</guid><pubDate>Sun, 29 Nov 2026 18:{i % 60:02d}:00 GMT</pubDate>"
        f"<description>&lt;p&gt;Entry {i}: what we learned running Chorus.&lt;/p&gt;</description></item>"
        for i in range(entries)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>b</title><link>https://blog.example.com/</link>{items}</channel></rss>'.encode()


def run(scale: float = 1.0) -> dict[str, Any]:
    use_test_environment()
    from chalicelib.pipeline.poll import poll_connector

    rows, results = [], {}
    for n in (max(100, int(5000 * scale)),):
        api = MemoryAlgolia(_hits(n))
        hub = _hub(api, tempfile.mkdtemp(prefix="chorus-bench-listen-"))
        connector = hub.connectors.get("hn-brand")
        connector.options.lookback_hours = 4
        outcome, seconds = timed(lambda: poll_connector(hub, connector))
        empty_calls_before = api.calls
        poll_connector(hub, connector)
        target = math.ceil(n / connector.options.page_size) + 1
        empty_calls = api.calls - empty_calls_before
        rows.append(
            [
                "hackernews",
                n,
                outcome.found,
                empty_calls_before,
                target,
                empty_calls,
                f"{outcome.found / seconds:,.0f}",
            ]
        )
        results["hackernews"] = {
            "items": n,
            "queued": outcome.found,
            "calls": empty_calls_before,
            "target_calls": target,
            "empty_poll_calls": empty_calls,
            "items_per_second": round(outcome.found / seconds),
        }
    entries = max(50, int(500 * scale))
    feed = MemoryFeed(_rss(entries))
    hub = _hub(feed, tempfile.mkdtemp(prefix="chorus-bench-listen-"))
    connector = hub.connectors.get("rss-subreddit")
    outcome, seconds = timed(lambda: poll_connector(hub, connector))
    calls = feed.calls
    again = poll_connector(hub, connector)
    rows.append(
        [
            "rss",
            entries,
            outcome.found,
            calls,
            1,
            f"{feed.calls - calls} ({again.found} queued)",
            f"{outcome.found / seconds:,.0f}",
        ]
    )
    results["rss"] = {
        "items": entries,
        "queued": outcome.found,
        "calls": calls,
        "items_per_second": round(outcome.found / seconds),
        "repeat_poll_queued": again.found,
    }
    for name, connector_id, make in (
        ("youtube_comments", "youtube-brand", _threads),
        ("app_store_reviews", "app-store-ios", _app_store),
        ("google_play_reviews", "play-android", _play),
    ):
        n = max(100, int(2000 * scale))
        api = make(n)
        hub = _hub(api, tempfile.mkdtemp(prefix="chorus-bench-listen-"))
        connector = hub.connectors.get(connector_id)
        connector.options.lookback_hours = 4
        outcome, seconds = timed(lambda: poll_connector(hub, connector))
        calls = api.calls
        poll_connector(hub, connector)
        target = math.ceil(n / connector.options.page_size) + 1
        rows.append(
            [name, n, outcome.found, calls, target, api.calls - calls, f"{outcome.found / seconds:,.0f}"]
        )
        results[name] = {
            "items": n,
            "queued": outcome.found,
            "calls": calls,
            "target_calls": target,
            "empty_poll_calls": api.calls - calls,
            "items_per_second": round(outcome.found / seconds),
        }
    print(
        table(
            "Listeners: items through the listener into the ingest queue",
            ["listener", "new items", "queued", "calls", "target", "next poll calls", "items/s"],
            rows,
        )
    )
    write_result("listeners", results)
    return results
