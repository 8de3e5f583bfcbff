"""Counters kept as things happen, read by time range: the brand pulse, and deliveries per
connector over time. Writers add up increments in memory (pipeline/counting.py) and write one
increment per (scope, bucket, key) per flush, so a hot counter costs one write per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass
class Voice:
    """One person heard in one bucket: reach (followers) and advocate score as of their latest
    interaction there, and how often they spoke."""

    person_id: str
    mentions: int
    reach: int
    score: float
    channels: tuple[str, ...] = ()


class Counters(Protocol):
    def add_counts(
        self, scope: str, increments: dict[tuple[str, str], dict[str, int]], ttl_days: int
    ) -> None:
        """Add each (bucket, key) -> {counter: n} to the counters of `scope` (atomic adds)."""
        ...

    def read_counts(
        self, scope: str, first_bucket: str, last_bucket: str
    ) -> list[tuple[str, str, dict[str, int]]]:
        """(bucket, key, counters) of `scope` for buckets first..last inclusive, in bucket order."""
        ...

    def count_events(self, connector_id: str, counts: dict[str, int]) -> None:
        """Add to a connector's per-reason counters (the ones GET /admin/connectors shows)."""
        ...

    def note_voices(self, scope: str, bucket: str, voices: list[Voice], ttl_days: int) -> None:
        """Record voices heard in a bucket: mentions add up; reach and score are the latest."""
        ...

    def top_voices(self, scope: str, bucket: str, by: str, limit: int) -> list[Voice]:
        """The bucket's voices with the highest `by` ("reach" or "score"), highest first."""
        ...

    def delete_voices(self, person_id: str, scope: str, buckets: list[str]) -> None:
        """Forget a person's voice entries (erasure)."""
        ...
