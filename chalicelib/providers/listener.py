"""The listener (poller) role: a source without webhooks, fetched on a schedule.

A listener module fills in `feeds` (what one connector polls: feed URLs, search terms) and
`fetch_page` (one API call: the items, where to go on, where the cursor stands after this run),
plus `parse` for one found item, as a webhook provider does for one delivery. The runner
(pipeline/poll.py) owns schedule, cursors, budget, back-off and queueing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from ..config.connector import Connector
from ..errors import MalformedPayload, MethodNotAllowed, UpstreamError
from .base import Delivery, InboundRequest
from .http import RETRYABLE_STATUSES, raise_for_permanent, retry_after_seconds
from .oauth import TokenRequest, get_token
from .source import Source

# One slow API never holds a run for long: a listener's call gives up sooner than a CRM write.
POLL_TIMEOUT = (3.05, 10)


class BudgetHeld(Exception):
    """A call beyond a page's own (a token request) found the source's budget spent: the runner
    stops the feed as throttled, as when the page's own call is held (no error, the next run)."""


def _no_charge() -> None:
    return None


@dataclass(frozen=True)
class PollRequest:
    """One page to fetch. `position` is the feed's committed cursor (None: never polled);
    `page` where an unfinished run goes on (None: the first page); `since` overrides the
    position for a run asked for by hand (`chorus poll --since`). `charge()` takes one more call
    from the source's budget, for a call beyond the page's own (a token request); it raises
    BudgetHeld when the budget is spent."""

    connector: Connector
    feed: str
    terms: list[str]
    position: str | None
    page: str | None
    since: datetime | None
    http: Any
    now: datetime
    charge: Callable[[], None] = _no_charge


@dataclass
class Page:
    """What one call found. `position`: where the feed's cursor stands once this run ends
    (providers carry it through `next_page`); `pause_seconds`: the API asked for a pause
    (rate-limit headers) before the next call."""

    items: list[dict[str, Any]] = field(default_factory=list)
    next_page: str | None = None
    position: str | None = None
    url: str = ""
    pause_seconds: float | None = None


class Listener(Source):
    """Base of every poller. `parse` receives one found item as a JSON delivery:
    {"feed": the feed key, "item": the item as `fetch_page` returned it}."""

    is_poller: ClassVar[bool] = True
    # the open web talks about everything: keep only brand matches unless the connector says not
    open_web: ClassVar[bool] = True
    page_size: ClassVar[int] = 100
    # requests per window of seconds, per API account; the connector's `rate_limit` may lower it
    poll_rate_limit: ClassVar[tuple[int, float]] = (60, 60.0)

    def feeds(self, connector: Connector, terms: list[str]) -> list[str]:
        """The feeds or queries one connector polls, each with a cursor of its own."""
        raise NotImplementedError

    def fetch_page(self, request: PollRequest) -> Page:
        raise NotImplementedError

    def budget_scope(self, feed: str) -> str:
        """Which feeds share a rate limit and a back-off: by default all of a connector's (one
        API account); feeds on different hosts (RSS) each have their own."""
        return ""

    def verify(self, request: InboundRequest, connector: Connector, now: float) -> None:
        raise MethodNotAllowed(
            f"{connector.id} is a listener: it fetches on a schedule, it takes no webhooks"
        )

    @staticmethod
    def found_item(delivery: Delivery) -> tuple[str, dict[str, Any]]:
        """(feed, item) of a found item's delivery; MalformedPayload when it is not one."""
        body = delivery.json()
        if not isinstance(body, dict) or not isinstance(body.get("item"), dict):
            raise MalformedPayload("a listener delivery is {feed, item}")
        return str(body.get("feed") or ""), body["item"]


def item_body(feed: str, item: Mapping[str, Any]) -> bytes:
    return json.dumps({"feed": feed, "item": item}, separators=(",", ":"), default=str).encode()


def fetch(
    http: Any,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    throttled: Callable[[Any], float | None] | None = None,
    method: str = "GET",
    **send: Any,
) -> Any:
    """One request (a GET unless `method` says), no retry: a 429, 5xx or timeout raises a
    retryable UpstreamError (with the server's Retry-After) so the runner backs this source off
    and moves on to the others; another 4xx is permanent. 304 is returned (a conditional GET
    found nothing new). `throttled(response)` names the seconds to wait when an API says "quota
    spent" its own way (Google's 403 `quotaExceeded`), else None. `send`: more of the request
    (a form's `data`, `auth`)."""
    import requests

    try:
        response = http.request(
            method, url, params=params, headers=dict(headers or {}), timeout=POLL_TIMEOUT, **send
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise UpstreamError(f"{type(exc).__name__} fetching {_host(url)}", retryable=True) from None
    wait = throttled(response) if throttled is not None and response.status_code >= 400 else None
    if response.status_code in RETRYABLE_STATUSES or wait is not None:
        raise UpstreamError(
            f"HTTP {response.status_code} from {_host(url)}",
            retryable=True,
            retry_after=wait
            if wait is not None
            else retry_after_seconds(response.headers.get("Retry-After")),
            status=response.status_code,
        )
    raise_for_permanent(response, f"{method} {_host(url)}")
    return response


def access_token(request: PollRequest, grant: TokenRequest, headers: Mapping[str, str] | None = None) -> str:
    """The connector's OAuth token for `grant` (providers/oauth.py: its cache, one fetch until it
    expires). A token request is sent as the listener's own calls are: charged to the source's
    budget (`request.charge`), no retry in the run, a 429 or 5xx backing this source off with
    its Retry-After. `headers`: more headers for the token request (Reddit's User-Agent)."""
    extra = dict(headers or {})

    def post(url: str, *, headers: Mapping[str, str] | None = None, **form: Any) -> Any:
        request.charge()
        return fetch(request.http, url, method="POST", headers={**(headers or {}), **extra}, **form)

    return get_token(request.connector.id, request.http, grant, send=post).access_token


def fetch_json(http: Any, url: str, *, expect: type = dict, **kwargs: Any) -> tuple[Any, Any]:
    """fetch(), then the body as JSON of the `expect`ed type (an object, or a list);
    MalformedPayload when it is not."""
    response = fetch(http, url, **kwargs)
    try:
        body = response.json()
    except ValueError:
        raise MalformedPayload(f"{_host(url)} answered with something that is not JSON") from None
    if not isinstance(body, expect):
        raise MalformedPayload(f"{_host(url)} answered with JSON that is not an {expect.__name__}")
    return response, body


def rate_limit_pause(response: Any, now: float | None = None) -> float | None:
    """Seconds to wait when the API's rate-limit headers say the window is spent
    (`X-RateLimit-Remaining` 0; `X-RateLimit-Reset` in seconds, or as an ISO time), else None."""
    remaining = response.headers.get("X-RateLimit-Remaining")
    reset = response.headers.get("X-RateLimit-Reset")
    try:
        if remaining is None or float(remaining) >= 1 or not reset:
            return None
    except ValueError:
        return None
    try:
        return max(1.0, float(reset))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(reset.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(1.0, moment.timestamp() - (now if now is not None else time.time()))


@dataclass
class Listing:
    """One answer of a listing served newest first: its items, where the next (older) page is,
    and a pause the API asked for."""

    items: list[dict[str, Any]]
    next: str | None
    url: str
    pause_seconds: float | None = None


MAX_RECENT_IDS = 500  # a mark's ids of its overlap window; past that the oldest are re-read


def newest_first_page(
    request: PollRequest,
    lookback: timedelta,
    stamp: Callable[[dict[str, Any]], tuple[float, str]],
    fetch_listing: Callable[[str | None], Listing],
    overlap: timedelta = timedelta(0),
) -> Page:
    """A run over a listing served newest first (reviews, comment threads): page back from the
    newest until an item older than the feed's mark, then stop. The mark is the newest
    item queued, {"t": its time (`stamp`'s epoch seconds), "ids": the ids of that very time}, so
    an item of the mark's second that arrives late is still found; a first run (or --since)
    starts `lookback` ago. `fetch_listing(None)` fetches the first page, then its `next`.
    `overlap`: for a listing that shows items late (a search index), each run also re-reads
    that long before the mark, and the mark keeps the ids it queued in that window ("recent":
    [[time, id], ...]), so a late item is queued once and an item already queued is not again.
    A backfill (--since) reads back to its start, but the cursor it leaves is the later of the
    stored one and its own: it never moves back (what it finds again is de-duplicated)."""
    window = overlap.total_seconds()
    state = json.loads(request.page) if request.page else None
    if state is None:
        start = request.since or request.now - lookback
        stored = json.loads(request.position) if request.position else None
        mark = stored if stored and not request.since else {"t": start.timestamp(), "ids": []}
        pending = (
            _marked(max(mark["t"], stored["t"]), [*_seen(stored), *_seen(mark)], window) if stored else mark
        )
        state = {"next": None, "mark": mark, "pending": pending}
    listing = fetch_listing(state["next"])
    stamped = [(item, stamp(item)) for item in listing.items]
    new = [(item, at) for item, at in stamped if _is_after(state["mark"], *at, window)]
    pending = state["pending"]
    state["pending"] = _marked(pending["t"], [*_seen(pending), *(at for _, at in new)], window)
    page = Page(
        items=[item for item, _ in new],
        position=json.dumps(state["pending"]),
        url=listing.url,
        pause_seconds=listing.pause_seconds,
    )
    # the first item older than the mark (less the overlap) ends the run; one of the mark's own
    # second does not, since items of one second come in no set order
    reached = any(at[0] < state["mark"]["t"] - window for _, at in stamped)
    if listing.next and not reached:
        page.next_page = json.dumps({**state, "next": listing.next})
    return page


def _is_after(mark: Mapping[str, Any], stamp: float, item_id: str, window: float = 0.0) -> bool:
    """New to this mark: newer than it, or of its second or overlap window and not yet queued."""
    if stamp > mark["t"]:
        return True
    if stamp < mark["t"] - window:
        return False
    return item_id not in {i for _, i in _seen(mark)}


def _seen(mark: Mapping[str, Any]) -> list[tuple[float, str]]:
    """(time, id) of every item a mark holds: its second's ids and its overlap window's."""
    return [(mark["t"], i) for i in mark["ids"]] + [(t, i) for t, i in mark.get("recent") or []]


def _marked(t: float, seen: Iterable[tuple[float, str]], window: float) -> dict[str, Any]:
    """The mark at the newest of `t` and the items `seen`: the ids of its second, and those
    seen within `window` before it (the newest MAX_RECENT_IDS)."""
    seen = list(seen)
    newest = max([t, *(at for at, _ in seen)])
    mark: dict[str, Any] = {"t": newest, "ids": list(dict.fromkeys(i for at, i in seen if at == newest))}
    recent = sorted({(at, i) for at, i in seen if newest - window <= at < newest}, reverse=True)
    if recent:
        mark["recent"] = [[at, i] for at, i in recent[:MAX_RECENT_IDS]]
    return mark


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc
