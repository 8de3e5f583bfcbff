"""The author-fetch role: a source whose pushes name an author by id only (a Slack user id)
and whose API says who that is. The pipeline (pipeline/authors.py) calls `author_details` on
the processing side, never while the vendor waits, through the source's budget, and caches the
answer; the provider only says how to ask."""

from __future__ import annotations

from typing import Any, ClassVar

from ..config.connector import Connector
from ..schema import Author, Interaction


class AuthorFetcher:
    # requests per window of seconds for the profile API (per account, shared by every worker)
    author_rate_limit: ClassVar[tuple[int, float]] = (50, 60.0)
    # how long a fetched profile is reused before it is asked for again
    author_cache_seconds: ClassVar[float] = 6 * 3600.0

    def wants_author(self, interaction: Interaction, connector: Connector) -> str | None:
        """The user id to look up for this interaction, or None when there is nothing to fetch
        (no id, a profile the push already carried, no credential on the connector)."""
        raise NotImplementedError

    def author_details(self, user_id: str, connector: Connector, http: Any) -> Author | None:
        """What the API says about the user (None when it knows nothing). Raises UpstreamError
        (retryable for 429/5xx) as listeners' fetches do."""
        raise NotImplementedError
