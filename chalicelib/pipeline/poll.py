"""Run listeners: fetch what is new since each feed's cursor and queue it as deliveries.

Per feed: page after page from the cursor, each call taken from the source's API budget
(sync/budget.py, shared by every worker); each page's items go on the ingest queue as
deliveries (the webhook envelope), and only then does the cursor move. A run cut short (time
budget, throttling, an error) keeps where it was and goes on from there next time: an item
seen twice is de-duplicated downstream, an item never skipped. A 429 or 5xx blocks that
source's budget (Retry-After honoured) and the run moves on to the next source at once, so one
source's throttling never delays another's.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..config.connector import Connector
from ..errors import ChorusError, MalformedPayload, UpstreamError
from ..hub import Hub
from ..providers import get_provider
from ..providers.base import InboundRequest
from ..providers.listener import POLL_TIMEOUT, BudgetHeld, Listener, PollRequest, item_body
from ..store.listener_cursors import ListenerCursor
from ..sync.budget import ApiBudget, budget_key
from .ingest import build_envelope

log = logging.getLogger("chorus_hub.poll")
DEFAULT_EVERY_SECONDS = 15 * 60
# A Lambda run stays well under its timeout; a long backfill goes on next run.
DEFAULT_TIME_BUDGET = 40.0
# what a run keeps back from the Lambda's remaining time: a call in flight when the budget ends
# (the HTTP timeout) and the cursors' writes after it
CALL_MARGIN_SECONDS = sum(POLL_TIMEOUT) + 5.0
MAX_BACKOFF_SECONDS = 3600.0
MAX_PARALLEL_SOURCES = 8


@dataclass
class FeedOutcome:
    feed: str
    found: int = 0
    calls: int = 0
    finished: bool = False  # False: cut short; the next run goes on where this one stopped
    error: str | None = None
    throttled: bool = False
    items: list[dict[str, Any]] = field(default_factory=list)  # kept for `chorus poll` to show


@dataclass
class PollOutcome:
    connector_id: str
    feeds: list[FeedOutcome] = field(default_factory=list)

    @property
    def found(self) -> int:
        return sum(f.found for f in self.feeds)

    @property
    def calls(self) -> int:
        return sum(f.calls for f in self.feeds)


def listener_of(connector: Connector) -> Listener | None:
    provider = get_provider(connector.provider)
    return provider if isinstance(provider, Listener) else None


def pollers(hub: Hub) -> list[Connector]:
    return [
        c for c in hub.connectors.connectors.values() if c.config.is_source and listener_of(c) is not None
    ]


def search_terms(hub: Hub, connector: Connector) -> list[str]:
    """The brand terms (settings' and the connector's own), each once, in order."""
    return list(dict.fromkeys(t for t in [*hub.settings.brand_terms, *connector.config.brand_terms] if t))


def feed_cursors(hub: Hub, connector: Connector) -> list[ListenerCursor]:
    """A listener's health, one cursor per feed it polls now (`last_run_at`, `last_ok_at`: the
    last run that finished, `failures` in a row, `last_error`); a feed never polled has a blank
    cursor, a feed no longer configured is left out. [] when the connector is not a listener."""
    listener = listener_of(connector)
    if listener is None or not connector.config.is_source:
        return []
    cursors = {c.feed: c for c in hub.store.connector_cursors(connector.id)}
    return [
        cursors.get(feed) or ListenerCursor(connector.id, feed)
        for feed in listener.feeds(connector, search_terms(hub, connector))
    ]


def health_line(cursor: ListenerCursor) -> str:
    """One feed's health as `chorus poll` prints it."""
    ok = f"{cursor.last_ok_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if cursor.last_ok_at else "never"
    line = f"last ok {ok}, {cursor.failures} consecutive failure{'' if cursor.failures == 1 else 's'}"
    return line + (f", last error: {cursor.last_error}" if cursor.last_error else "")


def every_seconds(connector: Connector) -> int:
    return connector.config.schedule.seconds if connector.config.schedule else DEFAULT_EVERY_SECONDS


def is_due(hub: Hub, connector: Connector, now: datetime) -> bool:
    """Due when a feed was never polled, a run was cut short, or `every` has passed."""
    listener = listener_of(connector)
    if listener is None:
        return False
    feeds = listener.feeds(connector, search_terms(hub, connector))
    cursors = {c.feed: c for c in hub.store.connector_cursors(connector.id)}
    for feed in feeds:
        cursor = cursors.get(feed)
        if cursor is None or cursor.last_run_at is None or cursor.resume is not None:
            return True
        if cursor.failures:  # the source's back-off decides when it is called again, not `every`
            return True
        if (now - cursor.last_run_at).total_seconds() >= every_seconds(connector):
            return True
    return False


def run_due_pollers(
    hub: Hub,
    now: datetime | None = None,
    time_budget: float = DEFAULT_TIME_BUDGET,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[PollOutcome]:
    """Poll every listener that is due, the longest-waiting first, side by side, until the time
    budget is spent (what is left is due again on the next run). The AWS schedule and the local
    hub's schedule runner call this."""
    now = now or hub.clock()
    deadline = monotonic() + time_budget
    due = [c for c in pollers(hub) if is_due(hub, c, now)]
    due.sort(key=lambda c: _oldest_run(hub, c))
    if not due:
        return []
    # each source on a thread of its own: a slow or hanging API (up to its call timeout) holds
    # back only itself; the time budget is shared, checked before every call
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_SOURCES, len(due))) as pool:
        runs = [pool.submit(poll_connector, hub, c, deadline=deadline, monotonic=monotonic) for c in due]
    outcomes = []
    for connector, run in zip(due, runs):
        try:
            outcomes.append(run.result())
        except Exception as exc:  # the queue or the store failed: nothing advanced; next run retries
            log.warning(
                "listener run failed", extra={"connector_id": connector.id, "error": type(exc).__name__}
            )
            outcomes.append(PollOutcome(connector.id, [FeedOutcome("*", error=type(exc).__name__)]))
    return outcomes


def time_budget_for(remaining_ms: int | None) -> float:
    """A run's time budget in a Lambda with `remaining_ms` left (None: not in Lambda): the default,
    or less when the function has less time left than the default plus a call in flight."""
    if remaining_ms is None:
        return DEFAULT_TIME_BUDGET
    return max(0.0, min(DEFAULT_TIME_BUDGET, remaining_ms / 1000 - CALL_MARGIN_SECONDS))


def _oldest_run(hub: Hub, connector: Connector) -> float:
    runs = [c.last_run_at.timestamp() for c in hub.store.connector_cursors(connector.id) if c.last_run_at]
    return min(runs, default=0.0)


def poll_connector(
    hub: Hub,
    connector: Connector,
    *,
    since: datetime | None = None,
    deadline: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> PollOutcome:
    """One run of one listener over all its feeds. Never raises for what a source did: each
    feed's failure is recorded on its cursor, and the other feeds still advance."""
    listener = listener_of(connector)
    if listener is None:
        raise ValueError(f"connector '{connector.id}' is not a listener")
    outcome = PollOutcome(connector.id)
    terms = search_terms(hub, connector)
    budget = ApiBudget(hub.store)
    limit = connector.config.rate_limit
    requests, per_seconds = (limit.requests, limit.per_seconds) if limit else listener.poll_rate_limit
    for feed in listener.feeds(connector, terms):
        key = f"{budget_key(connector)}:{listener.budget_scope(feed)}"
        feed_outcome = FeedOutcome(feed)
        outcome.feeds.append(feed_outcome)
        cursor = hub.store.get_cursor(connector.id, feed) or ListenerCursor(connector.id, feed)
        try:
            _poll_feed(
                hub,
                listener,
                connector,
                feed,
                terms,
                cursor,
                feed_outcome,
                since,
                deadline,
                monotonic,
                lambda: budget.acquire(key, requests, per_seconds),
            )
        except UpstreamError as exc:
            feed_outcome.error = str(exc)
            if exc.retryable:  # this source alone waits: Retry-After, else exponential back-off
                wait = exc.retry_after if exc.retry_after is not None else _backoff(cursor.failures)
                budget.block(key, wait)
        except (ChorusError, KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            # a malformed answer, or a parser that did not expect it: recorded, never a crashed run
            feed_outcome.error = (
                str(exc) if isinstance(exc, MalformedPayload) else f"{type(exc).__name__}: {exc}"
            )
        if not feed_outcome.finished and not feed_outcome.error:
            # held by its budget, or by the run's time budget, before it finished: due again at
            # the next run (a held feed costs no call), not only after `every`
            hub.store.put_cursor(cursor)
            continue
        cursor.last_run_at = hub.clock()
        if feed_outcome.error:
            cursor.failures += 1
            cursor.last_error = feed_outcome.error[:500]
            hub.store.count_event(connector.id, "poll_failed")
            log.warning(
                "listener feed failed",
                extra={"connector_id": connector.id, "feed": feed, "error": cursor.last_error},
            )
        elif feed_outcome.finished:
            cursor.failures, cursor.last_error, cursor.last_ok_at = 0, None, cursor.last_run_at
        hub.store.put_cursor(cursor)
    log.info(
        "listener polled",
        extra={"connector_id": connector.id, "found": outcome.found, "calls": outcome.calls},
    )
    return outcome


def _poll_feed(
    hub: Hub,
    listener: Listener,
    connector: Connector,
    feed: str,
    terms: list[str],
    cursor: ListenerCursor,
    out: FeedOutcome,
    since: datetime | None,
    deadline: float | None,
    monotonic: Callable[[], float],
    acquire: Callable[[], float],
) -> None:
    def charge() -> None:  # a call beyond the page's own (a token request), from the same budget
        if acquire() > 0:
            raise BudgetHeld
        out.calls += 1

    while True:
        if deadline is not None and monotonic() >= deadline:
            return  # cut short: cursor.resume says where the next run goes on
        sent = out.calls
        try:
            charge()
            page = listener.fetch_page(
                PollRequest(
                    connector=connector,
                    feed=feed,
                    terms=terms,
                    position=cursor.position,
                    page=cursor.resume,
                    since=since,
                    http=hub.http,
                    now=hub.clock(),
                    charge=charge,
                )
            )
        except BudgetHeld:  # the budget is spent (or blocked): next run, not a wait here
            out.throttled, out.calls = True, sent  # nor was the page's own call sent
            return
        if page.items:
            hub.ingest_queue.send_many(
                [_envelope(hub, connector, feed, page.url, item) for item in page.items]
            )
            out.found += len(page.items)
            out.items += page.items
            cursor.found += len(page.items)
        # the items are on the queue: only now may the cursor move past them
        if page.next_page:
            cursor.resume, cursor.resume_position = page.next_page, page.position
            hub.store.put_cursor(cursor)
        else:
            if page.position is not None:
                cursor.position = page.position
            cursor.resume = cursor.resume_position = None
            out.finished = True
        if page.pause_seconds:
            ApiBudget(hub.store).block(
                f"{budget_key(connector)}:{listener.budget_scope(feed)}", page.pause_seconds
            )
        if out.finished:
            return


def _envelope(hub: Hub, connector: Connector, feed: str, url: str, item: dict[str, Any]) -> dict:
    # the URL without its query: an API key may travel there, and the queue never holds one
    request = InboundRequest(
        "GET", url.split("?", 1)[0], "", {"content-type": "application/json"}, {}, item_body(feed, item)
    )
    return build_envelope(hub, connector.id, connector.provider, request, ())


def parse_since(value: str, now: datetime) -> datetime:
    """`--since`: an ISO 8601 date or time (UTC unless it says), or a duration back (90m, 2d)."""
    from ..config.models import DURATION_UNITS

    value = value.strip()
    if value[:-1].isdigit() and value[-1:] in DURATION_UNITS:
        return now - timedelta(seconds=int(value[:-1]) * DURATION_UNITS[value[-1]])
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def describe_outcome(hub: Hub, connector: Connector, outcome: PollOutcome) -> list[str]:
    """What `chorus poll` prints: each found item as its interaction would read, then a line
    per feed. Items are parsed here only to be shown; the worker processes the queued copies."""
    from ..providers.base import Delivery, ParseContext
    from ..schema import Interaction

    provider = listener_of(connector)
    if provider is None:
        return []
    lines = []
    for feed in outcome.feeds:
        for item in feed.items:
            delivery = Delivery(
                connector, item_body(feed.feed, item), {}, {}, "application/json", "", hub.clock()
            )
            try:
                parsed = [
                    p
                    for p in provider.parse(delivery, ParseContext(now=hub.clock()))
                    if isinstance(p, Interaction)
                ]
            except (ChorusError, KeyError, TypeError, ValueError) as exc:
                lines.append(f"  ! unreadable item: {type(exc).__name__}")
                continue
            for ix in parsed:
                text = " ".join((ix.text or "").split())[:80]
                lines.append(
                    f"  {ix.occurred_at:%Y-%m-%d %H:%M}  {ix.kind:8} {ix.author.handle or '-':20} {ix.url or ''}  {text}"
                )
        state = (
            "error: " + feed.error
            if feed.error
            else ("throttled" if feed.throttled else ("done" if feed.finished else "continues next run"))
        )
        lines.append(
            f"{connector.id} [{feed.feed}]: {feed.found} found and queued, {feed.calls} call(s), {state}"
        )
        cursor = hub.store.get_cursor(connector.id, feed.feed)
        if cursor is not None:
            lines.append(f"  health: {health_line(cursor)}")
    return lines


def _backoff(failures: int) -> float:
    return min(MAX_BACKOFF_SECONDS, 60.0 * 2**failures) * random.uniform(0.8, 1.0)
