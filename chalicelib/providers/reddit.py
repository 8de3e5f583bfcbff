"""Reddit: posts naming the brand (site search) and new posts or comments in chosen subreddits.

Application-only OAuth (client credentials: `POST https://www.reddit.com/api/v1/access_token`,
HTTP Basic with the app's id and secret; oauth.py caches the token, and its request is charged to
the budget and backed off as a listing is), then `GET https://oauth.reddit.com/search?q=TERM&
sort=new&type=link`, `/r/{sub}/new` and `/r/{sub}/comments`, 100 a page, newest first, `after`
a fullname anchor (so posts arriving meanwhile never shift the pages). Each feed's cursor is the
newest `created_utc` queued and the fullnames of that very second (listener.newest_first_page):
a run pages back until an item older than that second, so posts of the cursor's own second, which
Reddit lists in no set order and may index late, are each queued once, on whichever page.
Search also shows some posts late, after the cursor has moved past their `created_utc`: a search
run re-reads `search_overlap_minutes` (30) before its cursor, whose mark keeps the fullnames it
queued in that window, so a late post is queued once and the others are not again (an empty
poll is still one call while that window holds fewer posts than a page). Reddit counts requests
per OAuth client over 10 minutes and says so in `X-Ratelimit-*` headers: a spent window pauses
this source until its reset.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..schema import Author
from .base import Delivery, ParseContext, utc_from_epoch
from .listener import (
    Listener,
    Listing,
    Page,
    PollRequest,
    access_token,
    fetch_json,
    newest_first_page,
    rate_limit_pause,
)
from .oauth import client_credentials
from .permalink import canonical_permalink

PAGE_MAX = 100
GONE_AUTHORS = ("[deleted]", "[removed]")


class RedditOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = "https://oauth.reddit.com"
    token_url: str = "https://www.reddit.com/api/v1/access_token"
    user_agent: str = Field(
        default="server:chorus-listener:v1 (by /u/chorus)",
        description="Reddit asks for <platform>:<app id>:<version> (by /u/<username>).",
    )
    search: bool = Field(default=True, description="Search all of Reddit for the brand terms.")
    subreddits: list[str] = Field(default_factory=list, description="New posts (and comments) in these.")
    comments: bool = Field(default=True, description="Also listen to the subreddits' new comments.")
    lookback_hours: int = Field(default=24, gt=0)
    search_overlap_minutes: int = Field(
        default=30,
        ge=0,
        le=24 * 60,
        description="Search shows some posts late: each search run re-reads this long before its "
        "cursor, so a post indexed late is still queued (once).",
    )
    page_size: int = Field(default=PAGE_MAX, ge=1, le=PAGE_MAX)


class RedditProvider(Listener):
    name = "reddit"
    Options = RedditOptions
    required_secrets = {"client_id": "source", "client_secret": "source"}
    page_size = PAGE_MAX
    # Reddit's free tier: 100 queries per minute per OAuth client id, averaged over 10 minutes
    poll_rate_limit = (600, 600.0)

    def feeds(self, connector, terms: list[str]) -> list[str]:
        options: RedditOptions = connector.options
        feeds = [f"search:{t}" for t in terms] if options.search else []
        for sub in options.subreddits:
            sub = sub.removeprefix("r/").strip("/")
            feeds.append(f"r/{sub}/new")
            if options.comments:
                feeds.append(f"r/{sub}/comments")
        return list(dict.fromkeys(feeds))

    def fetch_page(self, request: PollRequest) -> Page:
        options: RedditOptions = request.connector.options
        path, params = self._listing(request.feed, options)
        url = f"{options.base_url.rstrip('/')}/{path}"
        headers = {"Authorization": f"bearer {self._token(request)}", "User-Agent": options.user_agent}

        def fetch_listing(after: str | None) -> Listing:
            query = {**params, "after": after} if after else params
            response, body = fetch_json(request.http, url, params=query, headers=headers)
            data = body.get("data") if isinstance(body.get("data"), dict) else {}
            things = [
                c["data"]
                for c in data.get("children") or []
                if isinstance(c, dict) and isinstance(c.get("data"), dict)
            ]
            # a short page is the listing's last, whatever `after` says
            more = data.get("after") if len(things) >= options.page_size else None
            return Listing(
                items=[{**t, "kind": _kind_of(t)} for t in things],
                next=str(more) if more else None,
                url=url,
                pause_seconds=rate_limit_pause(response),
            )

        # search indexes posts late (a post may appear after the cursor passed its time); the
        # subreddit listings list by creation at once
        overlap = options.search_overlap_minutes if request.feed.startswith("search:") else 0
        return newest_first_page(
            _upgraded(request),
            timedelta(hours=options.lookback_hours),
            _stamp,
            fetch_listing,
            overlap=timedelta(minutes=overlap),
        )

    @staticmethod
    def _listing(feed: str, options: RedditOptions) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"limit": options.page_size, "raw_json": 1}
        if feed.startswith("search:"):
            return "search", {**params, "q": feed.removeprefix("search:"), "sort": "new", "type": "link"}
        return feed, params

    def _token(self, request: PollRequest) -> str:
        """The app's bearer token (oauth.py's cache, one per connector until it expires), its
        request charged to Reddit's budget and backed off as the listings are."""
        connector, options = request.connector, request.connector.options
        grant = client_credentials(
            options.token_url, connector.secret("client_id"), connector.secret("client_secret"), basic=True
        )
        return access_token(request, grant, headers={"User-Agent": options.user_agent})

    def parse(self, delivery: Delivery, ctx: ParseContext):
        _, thing = self.found_item(delivery)
        is_comment = thing.get("kind") == "t1"
        name = str(thing["name"])
        permalink = "https://www.reddit.com" + str(thing.get("permalink") or "")
        author = thing.get("author")
        author = None if not author or author in GONE_AUTHORS else str(author)
        if is_comment:
            text = thing.get("body")
        else:
            text = "\n\n".join(p for p in (thing.get("title"), thing.get("selftext")) if p)
        edited = thing.get("edited")
        yield self.interaction(
            delivery.connector,
            name,
            kind="comment" if is_comment else "post",
            # the permalink, so a subreddit's RSS entry of the same post is the same interaction
            key=canonical_permalink(permalink) or f"reddit:{name}",
            event_id=f"{name}:{edited or ''}",
            event_type="comment" if is_comment else "link",
            occurred_at=utc_from_epoch(thing["created_utc"]),
            updated_at=utc_from_epoch(edited) if isinstance(edited, (int, float)) and edited else None,
            text=text or None,
            url=permalink,
            author=Author(handle=author, provider_user_id=author),
            thread_id=str(thing.get("link_id") or name),
            parent_id=str(thing["parent_id"]) if is_comment and thing.get("parent_id") else None,
            public=True,
        )


def _kind_of(thing: dict[str, Any]) -> str:
    return "t1" if str(thing.get("name", "")).startswith("t1_") else "t3"


def _stamp(thing: dict[str, Any]) -> tuple[float, str]:
    return float(thing.get("created_utc") or 0), str(thing.get("name") or "")


def _upgraded(request: PollRequest) -> PollRequest:
    """A cursor written before Reddit used `newest_first_page` ({"t", "names"}, and a resume of
    {"after", "pending"}) in that helper's shape ({"t", "ids"}; {"next", "mark", "pending"})."""

    def mark(value: Any) -> Any:
        if isinstance(value, dict) and "names" in value and "ids" not in value:
            return {"t": value["t"], "ids": list(value["names"])}
        return value

    position = json.loads(request.position) if request.position else None
    if isinstance(position, dict) and "names" in position:
        request = replace(request, position=json.dumps(mark(position)))
    page = json.loads(request.page) if request.page else None
    if isinstance(page, dict) and "after" in page and "mark" not in page:
        if request.since:
            seen = {"t": request.since.timestamp(), "ids": []}
        elif position:
            seen = mark(position)
        else:  # a first run's resume kept no floor: start that run again (nothing is skipped)
            return replace(request, page=None)
        pending = mark(page.get("pending")) or seen
        request = replace(request, page=json.dumps({"next": page["after"], "mark": seen, "pending": pending}))
    return request
