"""Behavioural fakes of the listened-to APIs, served through `responses`: they apply the API's
documented query semantics (filters, paging, limits) to an index of items, so a test asserts
what a listener ends up fetching, not the request it happened to send."""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from tests.support.paths import LISTENING_CONNECTORS
from tests.support.senders import fixture_bytes

HN_PAGINATION_LIMIT = 1000
CONNECTORS = LISTENING_CONNECTORS  # every fixture folder's listening/ connector files
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
T0 = int(NOW.timestamp()) - 3600  # items posted in the last hour


class CapturingQueue:
    def __init__(self):
        self.messages: list[dict] = []

    def send(self, message):
        self.messages.append(message)

    def send_many(self, messages):
        self.messages += messages


def poll(hub, connector_id="hn-brand", **kwargs):
    from chalicelib.pipeline.poll import poll_connector

    return poll_connector(hub, hub.connectors.get(connector_id), **kwargs)


def assert_paging_cost(outcome, calls: int, n: int, page_size: int) -> None:
    """A poll that finds n new items costs at most ceil(n / page size) + 1 calls (the API's own
    count, `calls`, agrees with the runner's); one that finds nothing costs one."""
    assert outcome.found == n and outcome.calls == calls <= math.ceil(n / page_size) + 1
    if n == 0:
        assert calls == 1


def hn_hit(
    object_id: int, created_at_i: int, text: str, *, comment: bool = True, author: str = "mayab"
) -> dict:
    """A hit shaped like the documented fixture's (tests/fixtures/hackernews)."""
    base = json.loads(fixture_bytes("hackernews/search_by_date.json"))["hits"][0 if comment else 1]
    hit = copy.deepcopy(base)
    hit.update(objectID=str(object_id), created_at_i=created_at_i, author=author)
    hit["_tags"] = ["comment" if comment else "story", f"author_{author}", f"story_{object_id}"]
    if comment:
        hit["comment_text"] = text
    else:
        hit["title"] = text
    return hit


@dataclass
class FakeAlgolia:
    """HN Search's `search_by_date`: newest first, `query` words all present, `tags` an OR group,
    `numericFilters` on created_at_i ANDed, `page` / `hitsPerPage`, at most 1,000 hits paged."""

    hits: list[dict] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)
    answer: tuple[int, dict, str] | None = None  # a canned (status, headers, body) instead

    def __call__(self, request):
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.calls.append(params)
        if self.answer is not None:
            return self.answer
        words = params.get("query", "").lower().split()
        matched = [h for h in self.hits if all(w in _searchable(h) for w in words)]
        tags = params.get("tags", "").strip("()").split(",")
        matched = [h for h in matched if not tags or any(t in h["_tags"] for t in tags)]
        for expression in filter(None, params.get("numericFilters", "").split(",")):
            name, op, value = re.match(r"(\w+)(<=|>=|<|>|=)(-?\d+)", expression).groups()
            matched = [h for h in matched if _compare(h[name], op, int(value))]
        matched.sort(key=lambda h: h["created_at_i"], reverse=True)
        total, matched = len(matched), matched[:HN_PAGINATION_LIMIT]
        size, page = int(params.get("hitsPerPage", 20)), int(params.get("page", 0))
        body = {
            "hits": matched[page * size : (page + 1) * size],
            "nbHits": total,  # the true count; nbPages stops at the pagination limit
            "nbPages": -(-len(matched) // size),
            "page": page,
            "hitsPerPage": size,
            "query": params.get("query", ""),
        }
        return 200, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body)


def _searchable(hit: dict) -> str:
    return " ".join(str(hit.get(k) or "") for k in ("title", "comment_text", "story_text", "url")).lower()


def _compare(left: int, op: str, right: int) -> bool:
    return {
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
        "=": left == right,
    }[op]


def bsky_post(n: int, indexed_at: str, text: str) -> dict:
    """A postView shaped like the documented fixture's (tests/fixtures/bluesky)."""
    post = copy.deepcopy(json.loads(fixture_bytes("bluesky/search_posts.json"))["posts"][0])
    post["uri"] = f"at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3lbq{n:09d}"
    post["indexedAt"] = indexed_at
    post["record"].update(text=text, createdAt=indexed_at)
    return post


@dataclass
class FakeBlueskySearch:
    """`app.bsky.feed.searchPosts` with sort=latest: every word of `q`, `since` inclusive and
    `until` exclusive on the sort time, `limit` (max 100), an offset `cursor`."""

    posts: list[dict] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)

    def __call__(self, request):
        from chalicelib.providers.base import parse_iso

        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.calls.append(params)
        words = params["q"].lower().split()
        found = [p for p in self.posts if all(w in p["record"]["text"].lower() for w in words)]
        if "since" in params:
            found = [p for p in found if parse_iso(p["indexedAt"]) >= parse_iso(params["since"])]
        if "until" in params:
            found = [p for p in found if parse_iso(p["indexedAt"]) < parse_iso(params["until"])]
        found.sort(key=lambda p: p["indexedAt"], reverse=True)
        start, limit = int(params.get("cursor", 0)), min(int(params.get("limit", 25)), 100)
        page = found[start : start + limit]
        body: dict = {"posts": page, "hitsTotal": len(found)}
        if start + limit < len(found):
            body["cursor"] = str(start + limit)
        return 200, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body)


def mastodon_status(status_id: int, text: str) -> dict:
    """A Status shaped like the documented fixture's (tests/fixtures/mastodon)."""
    status = copy.deepcopy(json.loads(fixture_bytes("mastodon/tag_timeline.json"))[0])
    status.update(
        id=str(status_id),
        uri=f"https://fosstodon.example/users/maya/statuses/{status_id}",
        url=f"https://fosstodon.example/@maya/{status_id}",
        content=f"<p>{text}</p>",
    )
    return status


@dataclass
class FakeMastodonTimeline:
    """A hashtag timeline: `min_id` gives the page immediately newer than it, `since_id` the newest
    page newer than it, `max_id` older; `limit` at most 40; each page newest first; the
    X-RateLimit-* headers of Mastodon's default limit (300 per 5 minutes)."""

    statuses: list[dict] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)
    remaining: int = 299

    def __call__(self, request):
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.calls.append(params)
        found = sorted(self.statuses, key=lambda s: int(s["id"]))
        limit = min(int(params.get("limit", 20)), 40)
        if "max_id" in params:
            found = [s for s in found if int(s["id"]) < int(params["max_id"])]
        if "min_id" in params:
            page = [s for s in found if int(s["id"]) > int(params["min_id"])][:limit]
        else:
            if "since_id" in params:
                found = [s for s in found if int(s["id"]) > int(params["since_id"])]
            page = found[-limit:]
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": "2026-11-30T12:05:00.000Z",
        }
        return 200, headers, json.dumps(list(reversed(page)))
