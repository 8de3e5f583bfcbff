"""Calling provider APIs: retries with backoff and jitter for 429, 5xx and timeouts only,
honouring Retry-After; everything else is returned to the caller to judge. Redirects are never
followed (a 3xx is an answer to judge, not a page to fetch with the body dropped).

Sinks get a `MeteredSession` from the sync engine: every HTTP call through it is charged to the
CRM account's shared budget, and a throttle answer (each provider's `Throttle` reads its own
signals) parks the whole account for as long as the CRM asked, before any further call.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from ..errors import UpstreamError


def _sleep(seconds: float) -> None:
    """Waiting between attempts; patchable on its own, and follows a patched time.sleep too."""
    time.sleep(seconds)


RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_TIMEOUT = (3.05, 20)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - (now or time.time()))
    except (TypeError, ValueError):
        return None


def backoff_seconds(attempt: int, base: float = 0.5, cap: float = 20.0) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * (2**attempt)))


def call_api(
    http: Any,
    method: str,
    url: str,
    *,
    attempts: int = 4,
    max_wait: float = 10.0,
    sleep: Callable[[float], None] | None = None,
    **kwargs: Any,
) -> Any:
    """Send a request, retrying what is retryable. Returns the response for any other status.

    Raises UpstreamError(retryable=True) when retries run out or the server asks to wait
    longer than `max_wait` (the queue then redelivers later instead of burning Lambda time).
    """
    import requests

    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    kwargs.setdefault("allow_redirects", False)
    last = "no attempt"
    for attempt in range(attempts):
        wait: float | None = None
        try:
            response = http.request(method, url, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            last = f"{type(exc).__name__} calling {method} {_host(url)}"
        else:
            if response.status_code not in RETRYABLE_STATUSES:
                return response
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            last = f"HTTP {response.status_code} from {method} {_host(url)}"
            if wait is not None and wait > max_wait:
                raise UpstreamError(last, retryable=True, retry_after=wait, status=response.status_code)
        if attempt + 1 < attempts:
            (sleep or _sleep)(wait if wait is not None else backoff_seconds(attempt))
    raise UpstreamError(f"{last} after {attempts} attempts", retryable=True)


def json_object(response: Any) -> dict[str, Any]:
    """The response body as a JSON object, or {} when it is not one (HTML error pages, lists)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def raise_for_permanent(response: Any, what: str) -> None:
    """4xx other than the retryable ones: a permanent error naming the API's own message."""
    if response.status_code < 400:
        return
    detail = ""
    try:
        body = response.json()
        detail = body.get("message") or body.get("error") or "" if isinstance(body, dict) else ""
    except ValueError:
        detail = response.text[:200]
    raise UpstreamError(
        f"{what}: HTTP {response.status_code} {detail}".strip(),
        retryable=response.status_code in RETRYABLE_STATUSES,
        status=response.status_code,
    )


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc


DEFAULT_THROTTLE_SECONDS = 10.0  # a 429 that says not how long: one common rate window
IN_PROCESS_WAIT_SECONDS = 1.0  # longer waits go back to the queue instead of idling a worker


class Throttle:
    """How a CRM says 'slow down'. The default reads a 429 and its Retry-After (seconds or an
    HTTP date); a provider subclasses it for its own signals (policy names, usage headers)."""

    def throttled(self, response: Any, connector: Any) -> float | None:
        """Seconds the account must rest when this response is a refusal for rate, else None."""
        if response.status_code != 429:
            return None
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        return DEFAULT_THROTTLE_SECONDS if wait is None else wait

    def exhausted(self, response: Any, connector: Any) -> float | None:
        """Seconds to rest after an accepted call that reports an allocation nearly spent."""
        return None


class AccountMeter(Protocol):
    """The shared budget of one CRM account (sync/budget.py binds it to the store)."""

    def acquire(self) -> float: ...  # 0.0: call now; else seconds until the account may be called
    def block(self, seconds: float) -> None: ...


class MeteredSession:
    """A requests-like session for one sink connector: each request takes one call from the
    account's budget; a throttle answer parks the account (every worker) and fails this call as
    retryable with the wait. Once parked, later calls fail at once, without a request or a
    budget read, so a chunk of 25 records sends one request into a 429, not 25."""

    def __init__(
        self,
        http: Any,
        meter: AccountMeter,
        throttle: Throttle,
        connector: Any,
        *,
        tokens: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session, self.tokens = http, tokens  # tokens: a shared OAuth token cache (oauth.py)
        self._meter, self._throttle, self._connector, self._clock = meter, throttle, connector, clock
        self._parked_until = 0.0
        self.calls = 0

    def parked_for(self) -> float:
        """Seconds this session knows the account must still rest (0.0 when it may be called)."""
        return max(0.0, self._parked_until - self._clock())

    def park(self, seconds: float) -> None:
        self._meter.block(seconds)
        self._parked_until = max(self._parked_until, self._clock() + seconds)

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self._take(method, url)
        kwargs["allow_redirects"] = False
        response = self.session.request(method, url, **kwargs)
        self.calls += 1
        wait = self._throttle.throttled(response, self._connector)
        if wait is not None:
            self.park(wait)
            raise UpstreamError(
                f"HTTP {response.status_code} from {method} {_host(url)}: the account rests {wait:.0f} s",
                retryable=True,
                retry_after=max(wait, 1.0),
                status=response.status_code,
            )
        rest = self._throttle.exhausted(response, self._connector)
        if rest:
            self.park(rest)
        return response

    def _take(self, method: str, url: str) -> None:
        wait = self.parked_for()
        if not wait:
            wait = self._meter.acquire()
            if 0 < wait <= IN_PROCESS_WAIT_SECONDS:
                _sleep(wait)
                wait = self._meter.acquire()
        if wait > 0:
            self._parked_until = max(self._parked_until, self._clock() + wait)
            raise UpstreamError(
                f"{method} {_host(url)} not sent: the account's API budget allows it in {wait:.0f} s",
                retryable=True,
                retry_after=max(wait, 1.0),
            )


class TokenSession:
    """A session that only carries the shared OAuth token cache (inbound fetches at parse)."""

    def __init__(self, http: Any, tokens: Any) -> None:
        self.session, self.tokens = http, tokens

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        return self.session.request(method, url, **kwargs)


def unmetered(http: Any) -> Any:
    """The plain session under a MeteredSession (token requests are not CRM API calls)."""
    return http.session if isinstance(http, MeteredSession | TokenSession) else http
