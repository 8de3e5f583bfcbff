"""Reddit: posts naming the brand (site search) and new posts or comments in chosen subreddits.

Application-only OAuth (client credentials: `POST https://www.reddit.com/api/v1/access_token`,
HTTP Basic with the app's id and secret), then `GET https://oauth.reddit.com/search?q=TERM&
sort=new&type=link`, `/r/{sub}/new` and `/r/{sub}/comments`, 100 a page, newest first, `after`
a fullname anchor (so posts arriving meanwhile never shift the pages). Each feed's cursor is the
newest `created_utc` queued and the fullnames of that very second; a run pages back until it
reaches them. Reddit counts requests per OAuth client over 10 minutes and says so in
`X-Ratelimit-*` headers: a spent window pauses this source until its reset.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import UpstreamError
from ..schema import Author
from .base import Delivery, ParseContext, utc_from_epoch
from .http import raise_for_permanent
from .listener import POLL_TIMEOUT, Listener, Page, PollRequest, fetch_json, rate_limit_pause
from .permalink import canonical_permalink

PAGE_MAX = 100
GONE_AUTHORS = ("[deleted]", "[removed]")
_tokens: dict[str, tuple[str, float]] = {}  # connector id -> (token, expires at): one per process
_tokens_lock = threading.Lock()


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
        state = json.loads(request.page) if request.page else None
        seen = json.loads(request.position) if request.position and not request.since else None
        if seen is None:
            start = request.since or request.now.replace(microsecond=0)
            floor = start.timestamp() if request.since else start.timestamp() - options.lookback_hours * 3600
            seen = {"t": floor, "names": []}
        if state is None:
            state = {"after": None, "pending": None}
        path, params = self._listing(request.feed, options)
        if state["after"]:
            params["after"] = state["after"]
        url = f"{options.base_url.rstrip('/')}/{path}"
        headers = {"Authorization": f"bearer {self._token(request)}", "User-Agent": options.user_agent}
        response, body = fetch_json(request.http, url, params=params, headers=headers)
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        things = [
            c["data"]
            for c in data.get("children") or []
            if isinstance(c, dict) and isinstance(c.get("data"), dict)
        ]
        new = [t for t in things if _is_new(t, seen)]
        reached = len(new) < len(things)  # an item already queued (or older): this run is done
        pending = state["pending"] or _position(new, seen)
        page = Page(
            items=[{**t, "kind": _kind_of(t)} for t in new],
            position=json.dumps(pending),
            url=url,
            pause_seconds=rate_limit_pause(response),
        )
        if not reached and data.get("after") and len(things) >= options.page_size:
            page.next_page = json.dumps({"after": data["after"], "pending": pending})
        return page

    @staticmethod
    def _listing(feed: str, options: RedditOptions) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"limit": options.page_size, "raw_json": 1}
        if feed.startswith("search:"):
            return "search", {**params, "q": feed.removeprefix("search:"), "sort": "new", "type": "link"}
        return feed, params

    def _token(self, request: PollRequest) -> str:
        """The app's bearer token, fetched once per process until it expires."""
        connector, options = request.connector, request.connector.options
        with _tokens_lock:
            cached = _tokens.get(connector.id)
            if cached and cached[1] > time.time() + 60:
                return cached[0]
            try:
                response = request.http.request(
                    "POST",
                    options.token_url,
                    data={"grant_type": "client_credentials"},
                    auth=(connector.secret("client_id"), connector.secret("client_secret")),
                    headers={"User-Agent": options.user_agent},
                    timeout=POLL_TIMEOUT,
                )
            except Exception as exc:  # requests' connection errors: try again next run
                raise UpstreamError(f"{type(exc).__name__} fetching a Reddit token", retryable=True) from None
            raise_for_permanent(response, "Reddit token")
            body = response.json() if response.content else {}
            token = body.get("access_token") if isinstance(body, dict) else None
            if not token:
                raise UpstreamError("Reddit token: no access_token in the answer", retryable=False)
            _tokens[connector.id] = (token, time.time() + float(body.get("expires_in") or 3600))
            return token

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


def _is_new(thing: dict[str, Any], seen: dict[str, Any]) -> bool:
    created = float(thing.get("created_utc") or 0)
    return created > seen["t"] or (created == seen["t"] and thing.get("name") not in seen["names"])


def _position(new: list[dict[str, Any]], seen: dict[str, Any]) -> dict[str, Any]:
    """The newest second queued and the fullnames of that second (the old position if none)."""
    if not new:
        return seen
    newest = max(float(t["created_utc"]) for t in new)
    names = [t["name"] for t in new if float(t["created_utc"]) == newest]
    if newest == seen["t"]:
        names = list(dict.fromkeys([*seen["names"], *names]))
    return {"t": newest, "names": names}
