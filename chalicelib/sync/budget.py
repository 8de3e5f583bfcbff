"""One API budget per CRM account, shared by every concurrent Lambda invocation.

A fixed-window counter in DynamoDB (one conditional update per CRM call, so two workers can
never both take the last request of a window), plus a "blocked until" mark that a 429 with
Retry-After sets for the whole account. Accounts are independent: a throttled CRM never
holds back another CRM's syncs.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

from ..config.connector import Connector


def budget_key(connector: Connector) -> str:
    """Connectors that call the same account with the same credential share a budget. Built from
    the secret *reference*, never the value."""
    options = connector.config.options
    credential = next(
        (
            connector.config.secrets[n]
            for n in ("access_token", "client_id", "signing")
            if n in connector.config.secrets
        ),
        connector.id,
    )
    raw = f"{connector.provider}|{options.get('base_url', '')}|{credential}"
    return f"{connector.provider}:{hashlib.sha256(raw.encode()).hexdigest()[:16]}"


class ApiBudget:
    def __init__(self, store, clock: Callable[[], float] = time.time):
        self._store = store
        self._clock = clock

    def acquire(self, key: str, requests: int, per_seconds: float) -> float:
        """Take one request from the account's budget: 0.0 when granted, else seconds to wait."""
        now = self._clock()
        blocked = self._store.budget_blocked_until(key)
        if blocked > now:
            return blocked - now
        window = math.floor(now / per_seconds) * per_seconds
        if self._store.budget_take(key, int(window), requests, ttl=int(window + per_seconds * 10)):
            return 0.0
        return max(0.01, window + per_seconds - now)

    def block(self, key: str, seconds: float) -> None:
        """The CRM said 'slow down': nobody calls this account until the time has passed."""
        self._store.budget_block(key, self._clock() + seconds)


class AccountBudget:
    """One account's budget as a sink's MeteredSession charges it: one request per HTTP call."""

    def __init__(self, budget: ApiBudget, key: str, requests: int, per_seconds: float):
        self._budget, self._key = budget, key
        self._requests, self._per_seconds = requests, per_seconds

    def acquire(self) -> float:
        return self._budget.acquire(self._key, self._requests, self._per_seconds)

    def block(self, seconds: float) -> None:
        self._budget.block(self._key, seconds)


def account_budget(store, connector: Connector, provider) -> AccountBudget:
    """The connector's `rate_limit` when its file sets one, else the provider's default."""
    limit = connector.config.rate_limit
    requests, per_seconds = (limit.requests, limit.per_seconds) if limit else provider.rate_limit
    return AccountBudget(ApiBudget(store), budget_key(connector), requests, per_seconds)
