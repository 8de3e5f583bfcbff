"""RSS and Atom feeds (feedparser): blogs, news, Google Alerts, forum, subreddit and podcast feeds.

One connector lists many feeds (`options.feeds`); each has its own cursor: the ETag and
Last-Modified of its last answer (a conditional GET that finds nothing costs one call and no
parsing) and the digests of the entries it held, so the next run queues only the entries that
are new or edited (a feed repeats its last N entries every time). Feeds on different hosts keep
separate budgets and back-offs. A malformed feed is a failure of that feed alone.
"""

from __future__ import annotations

import hashlib
import json
from calendar import timegm
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from ..errors import MalformedPayload
from ..schema import Author
from .base import Delivery, ParseContext
from .entries import html_to_text
from .listener import Listener, Page, PollRequest, fetch
from .permalink import canonical_permalink

USER_AGENT = "Chorus-Listener/1.0 (+https://github.com/chorus-hub/chorus)"
MAX_DIGESTS = 2000  # a feed longer than this is re-queued in part; de-duplication absorbs it


class RssOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feeds: list[str] = Field(min_length=1, description="Feed URLs (RSS 0.9x/1.0/2.0, Atom 0.3/1.0).")


class RssProvider(Listener):
    name = "rss"
    Options = RssOptions
    page_size = 1  # one call per feed, whatever it holds
    # per feed host: a polite ceiling, far above one call per feed per schedule
    poll_rate_limit = (60, 3600.0)

    def feeds(self, connector, terms: list[str]) -> list[str]:
        return list(dict.fromkeys(connector.options.feeds))

    def budget_scope(self, feed: str) -> str:
        return urlsplit(feed).netloc.lower()

    def fetch_page(self, request: PollRequest) -> Page:
        import feedparser

        state = json.loads(request.position) if request.position else {}
        headers = {"User-Agent": USER_AGENT, "Accept": "application/rss+xml, application/atom+xml, */*;q=0.5"}
        if not request.since:
            if state.get("etag"):
                headers["If-None-Match"] = state["etag"]
            if state.get("modified"):
                headers["If-Modified-Since"] = state["modified"]
        response = fetch(request.http, request.feed, headers=headers)
        if response.status_code == 304:
            return Page(position=request.position, url=request.feed)
        parsed = feedparser.parse(
            response.content, response_headers={k.lower(): v for k, v in response.headers.items()}
        )
        if not parsed.entries and (parsed.bozo or not parsed.get("version")):
            reason = type(parsed.get("bozo_exception")).__name__ if parsed.bozo else "no feed elements"
            raise MalformedPayload(f"{request.feed} is not an RSS or Atom feed ({reason})")
        seen = set(state.get("digests") or [])
        feed_info = {"title": parsed.feed.get("title"), "link": parsed.feed.get("link")}
        items, digests = [], []
        for entry in parsed.entries:
            item = _entry(entry, feed_info)
            digest = hashlib.sha256(f"{item['id']}\x1f{item['updated'] or ''}".encode()).hexdigest()[:16]
            digests.append(digest)
            if digest in seen or (
                request.since and item["published"] and item["published"] < request.since.isoformat()
            ):
                continue
            items.append(item)
        position = {
            "etag": response.headers.get("ETag"),
            "modified": response.headers.get("Last-Modified"),
            "digests": digests[:MAX_DIGESTS],
        }
        return Page(items=items, position=json.dumps(position), url=request.feed)

    def parse(self, delivery: Delivery, ctx: ParseContext):
        feed, item = self.found_item(delivery)
        link = item.get("link")
        key = canonical_permalink(link) or f"rss:{feed}#{item['id']}"
        occurred = item.get("published") or item.get("updated")
        text = "\n\n".join(p for p in (item.get("title"), item.get("summary")) if p)
        yield self.interaction(
            delivery.connector,
            str(item["id"])[:1024],
            kind="post",
            key=key,
            event_id=hashlib.sha256(f"{item['id']}\x1f{item.get('updated') or ''}".encode()).hexdigest()[:32],
            event_type="entry",
            occurred_at=datetime.fromisoformat(occurred) if occurred else delivery.received_at,
            # an entry's own <updated>, not feedparser's copy of its published date
            updated_at=datetime.fromisoformat(item["updated"])
            if item.get("updated") and item["updated"] != item.get("published")
            else None,
            text=text or None,
            url=canonical_permalink(link) or link,
            author=Author(display_name=item.get("author") or None),
            thread_id=item.get("feed_link") or feed,
            public=True,
        )


def _entry(entry: Any, feed_info: dict[str, Any]) -> dict[str, Any]:
    """A feed entry as plain JSON: what the queue carries and `parse` reads."""
    content = entry.get("content") or []
    body = content[0].get("value") if content else entry.get("summary")
    link = entry.get("link")
    return {
        "id": entry.get("id") or link or entry.get("title") or "",
        "link": link,
        "title": html_to_text(entry.get("title")),
        "summary": html_to_text(body),
        "author": entry.get("author"),
        "published": _iso(entry.get("published_parsed")),
        "updated": _iso(entry["updated_parsed"]) if "updated_parsed" in entry.keys() else None,
        "tags": [t.get("term") for t in entry.get("tags") or [] if t.get("term")],
        "feed_title": feed_info.get("title"),
        "feed_link": feed_info.get("link"),
    }


def _iso(parsed: Any) -> str | None:
    """feedparser's UTC struct_time as ISO 8601 (None when the entry gave no usable date)."""
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(timegm(parsed), tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None
