"""Time-bucketed counters and voices on the SQLite store (a mixin of SqliteStore)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from .counters import Voice

COUNTER_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    scope TEXT NOT NULL, bucket TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL,
    n INTEGER NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (scope, bucket, key, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS voices (
    scope TEXT NOT NULL, bucket TEXT NOT NULL, person_id TEXT NOT NULL, mentions INTEGER NOT NULL,
    reach INTEGER NOT NULL, score REAL NOT NULL, channels TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (scope, bucket, person_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS voices_by_reach ON voices (scope, bucket, reach DESC);
CREATE INDEX IF NOT EXISTS voices_by_score ON voices (scope, bucket, score DESC);
"""


class SqliteCounters:
    clock: Callable[[], float]
    _write: Callable[..., int]
    _all: Callable[..., list[tuple[Any, ...]]]

    @property
    def _db(self) -> sqlite3.Connection:
        raise NotImplementedError  # SqliteStore's connection of this thread

    def add_counts(
        self, scope: str, increments: dict[tuple[str, str], dict[str, int]], ttl_days: int
    ) -> None:
        expires = self.clock() + ttl_days * 86400
        self._db.executemany(
            "INSERT INTO counters VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
            " n = n + excluded.n, expires_at = excluded.expires_at",
            [
                (scope, bucket, key, name, n, expires)
                for (bucket, key), counts in increments.items()
                for name, n in counts.items()
            ],
        )

    def read_counts(
        self, scope: str, first_bucket: str, last_bucket: str
    ) -> list[tuple[str, str, dict[str, int]]]:
        found: dict[tuple[str, str], dict[str, int]] = {}
        for bucket, key, name, n in self._all(
            "SELECT bucket, key, name, n FROM counters WHERE scope = ? AND bucket BETWEEN ? AND ?"
            " ORDER BY bucket, key",
            (scope, first_bucket, last_bucket),
        ):
            found.setdefault((bucket, key), {})[name] = n
        return [(bucket, key, counts) for (bucket, key), counts in found.items()]

    def count_events(self, connector_id: str, counts: dict[str, int]) -> None:
        self._db.executemany(
            "INSERT INTO connector_counts VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET n = n + excluded.n",
            [(connector_id, reason, n) for reason, n in counts.items()],
        )

    def note_voices(self, scope: str, bucket: str, voices: list[Voice], ttl_days: int) -> None:
        expires = self.clock() + ttl_days * 86400
        for voice in voices:
            self._write(
                "INSERT INTO voices VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
                " mentions = mentions + excluded.mentions, reach = excluded.reach, score = excluded.score,"
                " channels = (SELECT json_group_array(value) FROM (SELECT DISTINCT value FROM"
                " (SELECT value FROM json_each(voices.channels) UNION SELECT value FROM"
                " json_each(excluded.channels)) ORDER BY value)), expires_at = excluded.expires_at",
                (
                    scope,
                    bucket,
                    voice.person_id,
                    voice.mentions,
                    voice.reach,
                    float(voice.score),
                    json.dumps(sorted(set(voice.channels))),
                    expires,
                ),
            )

    def top_voices(self, scope: str, bucket: str, by: str, limit: int) -> list[Voice]:
        column = {"reach": "reach", "score": "score"}[by]
        rows = self._all(
            "SELECT person_id, mentions, reach, score, channels FROM voices WHERE scope = ? AND bucket = ?"
            f" ORDER BY {column} DESC, person_id DESC LIMIT ?",
            (scope, bucket, limit),
        )
        return [Voice(p, m, r, s, tuple(json.loads(c))) for p, m, r, s, c in rows]

    def delete_voices(self, person_id: str, scope: str, buckets: list[str]) -> None:
        self._db.executemany(
            "DELETE FROM voices WHERE scope = ? AND bucket = ? AND person_id = ?",
            [(scope, b, person_id) for b in dict.fromkeys(buckets)],
        )
