"""Bluesky: posts naming the brand, from `app.bsky.feed.searchPosts` on an AppView.

`GET {base_url}/app.bsky.feed.searchPosts?q=TERM&sort=latest&since=S&until=U&limit=100&cursor=C`.
One query per brand term, each with its own cursor: the end of the last window it finished. A
run pages (`cursor`) through a fixed window [since, until) (the lexicon: `since` inclusive,
`until` exclusive, both on the post's sort time), so windows meet exactly, posts indexed
meanwhile never shift a run's pages, and `until` stays `settle_seconds` behind now for the
search index to catch up.
"""

from __future__ import annotations

import json
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from ..schema import Author
from .base import Delivery, ParseContext, parse_iso
from .listener import Listener, Page, PollRequest, fetch_json


class BlueskyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = "https://public.api.bsky.app/xrpc"
    queries: list[str] = Field(default_factory=list, description="Searches beyond the brand terms.")
    lang: str | None = Field(default=None, description="Only posts in this language (ISO 639).")
    lookback_hours: int = Field(default=24, gt=0)
    page_size: int = Field(default=100, ge=1, le=100)
    settle_seconds: int = Field(default=60, ge=0, description="Posts younger than this wait a run.")


class BlueskyProvider(Listener):
    name = "bluesky"
    identity_namespace = "bsky"
    Options = BlueskyOptions
    page_size = 100
    # the AppView's published limit is 3,000 requests per 5 minutes per IP: stay far below it
    poll_rate_limit = (300, 300.0)

    def feeds(self, connector, terms: list[str]) -> list[str]:
        return list(dict.fromkeys([*terms, *connector.options.queries]))

    def fetch_page(self, request: PollRequest) -> Page:
        options: BlueskyOptions = request.connector.options
        state = json.loads(request.page) if request.page else None
        if state is None:
            since = request.since.isoformat() if request.since else request.position
            if not since:
                since = (request.now - timedelta(hours=options.lookback_hours)).isoformat()
            until = request.now - timedelta(seconds=options.settle_seconds)
            state = {"since": since, "until": until.isoformat(), "cursor": None}
        params = {
            "q": request.feed,
            "sort": "latest",
            "since": state["since"],
            "until": state["until"],
            "limit": options.page_size,
        }
        if options.lang:
            params["lang"] = options.lang
        if state["cursor"]:
            params["cursor"] = state["cursor"]
        url = f"{options.base_url.rstrip('/')}/app.bsky.feed.searchPosts"
        _, body = fetch_json(request.http, url, params=params)
        posts = [p for p in body.get("posts") or [] if isinstance(p, dict) and p.get("uri")]
        page = Page(items=posts, position=state["until"], url=url)  # the window, once finished
        if posts and body.get("cursor") and len(posts) >= options.page_size:
            page.next_page = json.dumps({**state, "cursor": body["cursor"]})
        return page

    def parse(self, delivery: Delivery, ctx: ParseContext):
        _, post = self.found_item(delivery)
        record, author = post.get("record") or {}, post.get("author") or {}
        uri, did = str(post["uri"]), str(author.get("did") or "") or None
        reply = record.get("reply") or {}
        handle = author.get("handle")
        rkey = uri.rsplit("/", 1)[-1]
        yield self.interaction(
            delivery.connector,
            uri,
            kind="comment" if reply else "post",
            key=f"bsky:{uri}",
            event_id=f"{uri}:{post.get('cid') or ''}",
            event_type="reply" if reply else "post",
            occurred_at=parse_iso(record.get("createdAt") or post["indexedAt"]),
            text=record.get("text") or None,
            url=f"https://bsky.app/profile/{handle or did}/post/{rkey}",
            author=Author(
                provider_user_id=did,
                handle=handle if handle and handle != "handle.invalid" else None,
                display_name=author.get("displayName") or None,
            ),
            language=(record.get("langs") or [None])[0],
            thread_id=(reply.get("root") or {}).get("uri") or uri,
            parent_id=(reply.get("parent") or {}).get("uri"),
            public=True,
        )
