"""Fetch what a push leaves out: the author's profile (name, email where the scope allows) for
sources that send an id only, so the person links to their CRM contact.

Runs on the processing side, before identity resolution. Each fetch is taken from the source's
budget (sync/budget.py) and backs off on 429/5xx as a listener does; a spent budget or a failed
fetch leaves the author as the push gave it (the interaction is never held back or lost for
it), counted as `author_fetch_deferred`. Answers are cached per process.
"""

from __future__ import annotations

import logging
import threading
import time

from ..config.connector import Connector
from ..errors import ChorusError, UpstreamError
from ..hub import Hub
from ..providers.author_fetch import AuthorFetcher
from ..schema import Author, Interaction
from ..sync.budget import ApiBudget, budget_key

log = logging.getLogger("chorus_hub.authors")
_cache: dict[tuple[str, str], tuple[float, Author | None]] = {}
_lock = threading.Lock()
CACHE_MAX = 10_000


def complete_author(hub: Hub, connector: Connector, source: object, interaction: Interaction) -> None:
    """Fill in the interaction's author from the source's API, if it is an AuthorFetcher."""
    if not isinstance(source, AuthorFetcher):
        return
    user_id = source.wants_author(interaction, connector)
    if not user_id:
        return
    key = (connector.id, user_id)
    with _lock:
        cached = _cache.get(key)
    if cached is not None and cached[0] > time.time():
        _apply(interaction, cached[1])
        return
    budget, scope = ApiBudget(hub.store), f"{budget_key(connector)}:authors"
    if budget.acquire(scope, *source.author_rate_limit) > 0:
        hub.store.count_event(connector.id, "author_fetch_deferred")
        return
    try:
        details = source.author_details(user_id, connector, hub.http)
    except UpstreamError as exc:
        if exc.retryable:
            budget.block(scope, exc.retry_after if exc.retry_after is not None else 60.0)
        hub.store.count_event(connector.id, "author_fetch_deferred")
        log.info("author not fetched", extra={"connector_id": connector.id, "status": exc.http_status})
        return
    except ChorusError:  # a credential that does not resolve: the push's author stands
        hub.store.count_event(connector.id, "author_fetch_deferred")
        return
    with _lock:
        if len(_cache) >= CACHE_MAX:
            _cache.clear()
        _cache[key] = (time.time() + source.author_cache_seconds, details)
    _apply(interaction, details)


def _apply(interaction: Interaction, details: Author | None) -> None:
    """What the push said wins; the profile fills what it left out."""
    if details is None:
        return
    given = interaction.author
    interaction.author = given.model_copy(
        update={
            name: getattr(details, name)
            for name in ("email", "handle", "display_name", "phone", "followers")
            if getattr(given, name) is None and getattr(details, name) is not None
        }
    )
