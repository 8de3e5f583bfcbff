"""Hacker News: stories and comments naming the brand, from the public Algolia HN Search API.

`GET {base_url}/search_by_date?query=TERM&tags=(story,comment)&numericFilters=created_at_i>C`
(newest first, no key). One query per brand term, each with its own cursor: the newest
`created_at_i` queued. A run pages through a fixed window (cursor, upper], so items posted
meanwhile never shift the pages; Algolia serves at most 1,000 hits of one query, so past that
the window's upper bound moves down to the oldest hit seen and paging starts again.
"""

from __future__ import annotations

import json
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from ..schema import Author
from .base import Delivery, ParseContext, utc_from_epoch
from .entries import html_to_text
from .listener import Listener, Page, PollRequest, fetch_json

PAGINATION_LIMIT = 1000  # Algolia's paginationLimitedTo on the HN index
ITEM_URL = "https://news.ycombinator.com/item?id={}"


class HackerNewsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = "https://hn.algolia.com/api/v1"
    tags: str = Field(default="(story,comment)", description="Algolia tags filter: stories and comments.")
    queries: list[str] = Field(default_factory=list, description="Queries beyond the brand terms.")
    lookback_hours: int = Field(default=24, gt=0, description="How far back the first run looks.")
    page_size: int = Field(default=100, ge=1, le=1000)
    settle_seconds: int = Field(
        default=60, ge=0, description="Items younger than this wait for the next run (indexing lag)."
    )


class HackerNewsProvider(Listener):
    name = "hackernews"
    identity_namespace = "hn"
    Options = HackerNewsOptions
    page_size = 100
    # Algolia documents no quota for this index; ~10,000 requests/hour per IP is the figure HN's
    # community reports (FACTS.md): stay far below it
    poll_rate_limit = (1000, 3600.0)

    def feeds(self, connector, terms: list[str]) -> list[str]:
        return list(dict.fromkeys([*terms, *connector.options.queries]))

    def fetch_page(self, request: PollRequest) -> Page:
        options: HackerNewsOptions = request.connector.options
        state = json.loads(request.page) if request.page else None
        if state is None:
            since = request.since or (
                utc_from_epoch(int(request.position))
                if request.position
                else request.now - timedelta(hours=options.lookback_hours)
            )
            floor = int(since.timestamp())
            state = {
                "floor": floor,
                "upper": int(request.now.timestamp()) - options.settle_seconds,
                "page": 0,
                "high": floor,
            }
            if request.position:  # a backfill (--since) never moves the cursor back
                state["high"] = max(floor, int(request.position))
        url = f"{options.base_url.rstrip('/')}/search_by_date"
        _, body = fetch_json(
            request.http,
            url,
            params={
                "query": request.feed,
                "tags": options.tags,
                "numericFilters": f"created_at_i>{state['floor']},created_at_i<={state['upper']}",
                "hitsPerPage": options.page_size,
                "page": state["page"],
            },
        )
        hits = [h for h in body.get("hits") or [] if isinstance(h, dict) and h.get("objectID")]
        stamps = [int(h["created_at_i"]) for h in hits if isinstance(h.get("created_at_i"), int)]
        state["high"] = max([state["high"], *stamps])
        page = Page(items=hits, position=str(state["high"]), url=url)
        seen = (state["page"] + 1) * options.page_size
        if len(hits) < options.page_size or seen >= int(body.get("nbHits") or 0):
            return page  # the window is exhausted: the cursor moves to the newest item queued
        if seen >= PAGINATION_LIMIT or state["page"] + 1 >= int(body.get("nbPages") or 0):
            # Algolia pages no further: narrow the window to what is older than this page
            state["upper"], state["page"] = min(stamps, default=state["upper"]), 0
        else:
            state["page"] += 1
        page.next_page = json.dumps(state)
        return page

    def parse(self, delivery: Delivery, ctx: ParseContext):
        _, hit = self.found_item(delivery)
        tags = hit.get("_tags") or []
        object_id = str(hit["objectID"])
        is_comment = "comment" in tags or hit.get("comment_text") is not None
        if is_comment:
            text = html_to_text(hit.get("comment_text"))
        else:
            text = "\n\n".join(p for p in (hit.get("title"), html_to_text(hit.get("story_text"))) if p)
        author = str(hit.get("author") or "") or None
        occurred = utc_from_epoch(int(hit["created_at_i"]))
        updated = hit.get("updated_at")
        yield self.interaction(
            delivery.connector,
            object_id,
            kind="comment" if is_comment else "post",
            key=f"hn:item:{object_id}",
            # an item edited or re-scored comes back with a new updated_at: a new event
            event_id=f"{object_id}:{updated or hit['created_at_i']}",
            event_type="comment" if is_comment else "story",
            occurred_at=occurred,
            text=text or None,
            url=ITEM_URL.format(object_id),
            author=Author(handle=author, provider_user_id=author, display_name=author),
            thread_id=str(hit["story_id"]) if hit.get("story_id") is not None else object_id,
            parent_id=str(hit["parent_id"]) if hit.get("parent_id") is not None else None,
            public=True,
        )
