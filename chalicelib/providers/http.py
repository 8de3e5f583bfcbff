"""Calling provider APIs: retries with backoff and jitter for 429, 5xx and timeouts only,
honouring Retry-After; everything else is returned to the caller to judge."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

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
