"""The local hub's store: one SQLite file (stdlib sqlite3, WAL) with the DynamoDB store's semantics.

Safe across the hub's processes and threads: one connection per thread and process, WAL (readers
never block the writer), a busy timeout, and conditional writes that are one statement each
(`INSERT ... ON CONFLICT`, `UPDATE ... WHERE version = ?`) or, for all-or-nothing claims, one
`BEGIN IMMEDIATE` transaction. Deleted content is zeroed (`secure_delete`), and `forget_deleted`
checkpoints and truncates the WAL after an erasure, so an erased person is gone from the files.
Tables mirror the DynamoDB items (store/dynamodb.py): one per aggregate; model data as JSON text,
only keys and sort columns typed. Cursors are keyset positions (store/cursors.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own busy wait alone
    fcntl = None  # type: ignore[assignment]

from ..schema import Action, IdentityLink, IdentityRef, Interaction, MergeRecord, Person
from . import cursors
from .listener_cursors import ListenerCursor, cursor_from_json, cursor_to_json
from .records import BadCursor, DeadLetter, Page, PersonItems, SyncState, VersionConflict
from .sqlite_counters import COUNTER_SCHEMA, SqliteCounters
from .sqlite_deliveries import DELIVERY_SCHEMA, SqliteDeliveryLog

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 30_000
PURGE_EVERY = 1000  # expired markers, windows and claims are swept after this many TTL'd writes

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dedup (
    connector_id TEXT NOT NULL, event_id TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (connector_id, event_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS identities (
    key TEXT PRIMARY KEY, person_id TEXT NOT NULL, namespace TEXT NOT NULL,
    confidence REAL, data TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS people (
    person_id TEXT PRIMARY KEY, data TEXT NOT NULL, version INTEGER NOT NULL,
    score REAL, decay_due_at TEXT);
CREATE INDEX IF NOT EXISTS people_by_score ON people (score DESC, person_id DESC) WHERE score IS NOT NULL;
CREATE INDEX IF NOT EXISTS people_by_decay ON people (decay_due_at) WHERE decay_due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS interactions (
    person_id TEXT NOT NULL, interaction_id TEXT NOT NULL, connector_id TEXT NOT NULL,
    connector_sort TEXT NOT NULL, version_time REAL NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (person_id, interaction_id));
CREATE INDEX IF NOT EXISTS interactions_by_connector
    ON interactions (connector_id, connector_sort DESC, person_id DESC);
CREATE INDEX IF NOT EXISTS interactions_by_thread ON interactions (connector_id, json_extract(data, '$.thread_id'))
    WHERE json_extract(data, '$.thread_id') IS NOT NULL;
CREATE TABLE IF NOT EXISTS sync_states (
    person_id TEXT NOT NULL, connector_id TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (person_id, connector_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (
    connector_id TEXT NOT NULL, sort TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (connector_id, sort));
CREATE TABLE IF NOT EXISTS connector_counts (
    connector_id TEXT NOT NULL, reason TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (connector_id, reason)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS connector_seen (connector_id TEXT PRIMARY KEY, last_delivery_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS budget_windows (
    key TEXT NOT NULL, window INTEGER NOT NULL, used INTEGER NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (key, window)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS budget_blocks (key TEXT PRIMARY KEY, until REAL NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS oauth_tokens (key TEXT PRIMARY KEY, sealed TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS create_claims (
    key TEXT PRIMARY KEY, until REAL NOT NULL, crm_id TEXT, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS loop_caps (
    person_id TEXT NOT NULL, rule TEXT NOT NULL, last_at REAL NOT NULL, interaction_id TEXT NOT NULL,
    PRIMARY KEY (person_id, rule)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS actions (
    person_id TEXT NOT NULL, action_id TEXT NOT NULL, all_sort TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (person_id, action_id));
CREATE INDEX IF NOT EXISTS actions_newest ON actions (all_sort DESC, person_id DESC);
CREATE TABLE IF NOT EXISTS merges (merge_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS erasures (hash TEXT PRIMARY KEY, erased_at TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS listener_cursors (
    connector_id TEXT NOT NULL, feed TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (connector_id, feed)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS interaction_keys (
    key_hash TEXT PRIMARY KEY, person_id TEXT NOT NULL, interaction_id TEXT NOT NULL) WITHOUT ROWID;
"""
SCHEMA += DELIVERY_SCHEMA + COUNTER_SCHEMA
# what lives under one person (privacy): table -> its person column is person_id
PERSON_TABLES = ("people", "interactions", "sync_states", "actions", "loop_caps")


class SqliteStore(SqliteDeliveryLog, SqliteCounters):
    """Every aggregate protocol of store/base.py on one SQLite file."""

    TRANSACTIONAL = True  # atomic() is one transaction: what is written inside commits together

    def __init__(self, path: str | os.PathLike[str], clock: Callable[[], float] = time.time):
        self.path = str(path)
        self.clock = clock  # epoch seconds; the contract tests move it to expire TTLs
        self._local = threading.local()
        self._ttl_writes = 0
        self._salt: str | None = None
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{self.path}.writer").touch()  # the writers' lock file (_writer_turn), made once here
        # one transaction, so hub processes starting together see the whole schema or none
        self._db.executescript(
            f"BEGIN IMMEDIATE; {SCHEMA} INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}')"
            " ON CONFLICT DO NOTHING; COMMIT;"
        )

    # ---- connections --------------------------------------------------------------------------
    @property
    def _db(self) -> sqlite3.Connection:
        """This thread's connection (a forked child opens its own: connections never cross fork)."""
        db = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a commit survives a crash of the process (SIGKILL), not a power
            # cut of the last moments; CHORUS_SQLITE_SYNCHRONOUS=FULL trades speed for that
            db.execute(f"PRAGMA synchronous = {synchronous_mode()}")
            db.execute("PRAGMA secure_delete = ON")  # deleted rows are zeroed, not left in free pages
            self._local.db, self._local.pid = db, os.getpid()
        return db

    @contextmanager
    def _transaction(self, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock first, so a read-then-write never deadlocks;
        DEFERRED (reads only) gives one consistent snapshot without taking it. Inside an open
        transaction (atomic()) it is a savepoint: its own all-or-nothing, within the outer one."""
        db = self._db
        if db.in_transaction:
            db.execute("SAVEPOINT inner")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK TO inner")
                db.execute("RELEASE inner")
                raise
            db.execute("RELEASE inner")
            return
        with self._writer_turn(mode == "IMMEDIATE"):
            db.execute(f"BEGIN {mode}")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def _writer_turn(self, writing: bool) -> Iterator[None]:
        """Writers queue on a lock file before BEGIN IMMEDIATE. SQLite's own wait for its write
        lock polls with sleeps of up to 100 ms, so a second worker process waiting for a 50 ms
        batch transaction slept past its end and two workers drained slower than one; flock wakes
        the next writer the moment the lock is released."""
        if not writing or fcntl is None:
            yield
            return
        lock = getattr(self._local, "writer_lock", None)
        if lock is None or self._local.writer_pid != os.getpid():
            lock = open(f"{self.path}.writer", "a+b")  # noqa: SIM115 (held for the thread's life)
            self._local.writer_lock, self._local.writer_pid = lock, os.getpid()
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Every write inside commits together, or none does (an exception rolls back). One
        commit instead of one per write: a commit costs ~20 us of CPU and, on a busy machine,
        a few hundred of waiting. Other writers wait meanwhile, so hold it for store work only."""
        with self._transaction():
            yield

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        return self._db.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, args).fetchall()

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """One statement in its own transaction (autocommit); the rows it changed."""
        return self._db.execute(sql, args).rowcount

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # ---- de-duplication -----------------------------------------------------------------------
    def is_processed(self, connector_id: str, event_id: str) -> bool:
        row = self._one(
            "SELECT 1 FROM dedup WHERE connector_id = ? AND event_id = ? AND expires_at > ?",
            (connector_id, event_id, self.clock()),
        )
        return row is not None

    def mark_processed(self, connector_id: str, event_id: str, ttl_days: int) -> None:
        self._write(
            "INSERT INTO dedup VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET expires_at = excluded.expires_at",
            (connector_id, event_id, self.clock() + ttl_days * 86400),
        )
        self._count_ttl_write()

    def delete_processed_markers(self, markers: list[tuple[str, str]]) -> None:
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM dedup WHERE connector_id = ? AND event_id = ?", list(dict.fromkeys(markers))
            )

    def purge_expired(self) -> int:
        """Delete what its TTL has passed (DynamoDB's TTL does this by itself); rows removed."""
        now = self.clock()
        with self._transaction() as db:
            return sum(
                db.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,)).rowcount
                for table in (
                    "dedup",
                    "budget_windows",
                    "budget_blocks",
                    "oauth_tokens",
                    "create_claims",
                    "deliveries",
                    "delivery_people",
                    "counters",
                    "voices",
                )
            )

    def _count_ttl_write(self) -> None:
        self._ttl_writes += 1
        if self._ttl_writes % PURGE_EVERY == 0:
            self.purge_expired()

    # ---- identities ---------------------------------------------------------------------------
    def find_identities(self, refs: Sequence[IdentityRef]) -> dict[str, str]:
        return {key: owner for key, (owner, _) in self.find_identity_links(refs).items()}

    def find_identity_links(self, refs: Sequence[IdentityRef]) -> dict[str, tuple[str, float]]:
        keys = list(dict.fromkeys(r.key for r in refs))
        found: dict[str, tuple[str, float]] = {}
        for start in range(0, len(keys), 500):  # below SQLite's limit of bound parameters
            chunk = keys[start : start + 500]
            rows = self._all(
                f"SELECT key, person_id, confidence FROM identities WHERE key IN ({_marks(chunk)})",
                tuple(chunk),
            )
            found.update({key: (owner, 1.0 if conf is None else conf) for key, owner, conf in rows})
        return found

    def claim_identity(self, ref: IdentityRef, person_id: str) -> str:
        return self._claim(self._db, ref, person_id, None, None) or self._owner(ref.key)

    def claim_identity_link(self, link: IdentityLink, person_id: str) -> str:
        claimed = self._claim(self._db, link, person_id, float(link.confidence), link.model_dump_json())
        return claimed or self._owner(link.key)

    def claim_identity_links(self, links: list[IdentityLink], person_id: str) -> bool:
        class Taken(Exception):
            pass

        try:
            with self._transaction() as db:
                for link in links:
                    if not self._claim(db, link, person_id, float(link.confidence), link.model_dump_json()):
                        raise Taken  # roll back the ones claimed so far
        except Taken:
            return False
        return True

    @staticmethod
    def _claim(
        db: sqlite3.Connection, ref: IdentityRef, person_id: str, confidence: float | None, data: str | None
    ) -> str | None:
        changed = db.execute(
            "INSERT INTO identities VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (ref.key, person_id, ref.namespace, confidence, data),
        ).rowcount
        return person_id if changed else None

    def _owner(self, key: str) -> str:
        row = self._one("SELECT person_id FROM identities WHERE key = ?", (key,))
        assert row is not None, "an identity claim lost its row"  # identities are deleted by erasure only
        return row[0]

    def repoint_identity(self, ref: IdentityRef, from_person: str, to_person: str) -> bool:
        return bool(
            self._write(
                "UPDATE identities SET person_id = ? WHERE key = ? AND person_id = ?",
                (to_person, ref.key, from_person),
            )
        )

    def delete_identity(self, ref_key: str, person_id: str) -> bool:
        return bool(
            self._write("DELETE FROM identities WHERE key = ? AND person_id = ?", (ref_key, person_id))
        )

    # ---- people -------------------------------------------------------------------------------
    def get_person(self, person_id: str) -> Person | None:
        return self.get_person_versioned(person_id)[0]

    def get_person_versioned(self, person_id: str) -> tuple[Person | None, int | None]:
        row = self._one("SELECT data, version FROM people WHERE person_id = ?", (person_id,))
        if row is None:
            return None, None
        return Person.model_validate_json(row[0]), row[1]

    def put_person(self, person: Person, expected_version: int | None) -> int:
        new_version = (expected_version or 0) + 1
        merged = bool(person.merged_into)  # merged away: neither an advocate nor due for decay
        score = None if merged else round(person.advocate.score, 4)
        due = person.advocate.decay_due_at
        decay = None if merged or due is None else due.isoformat()
        values = (person.model_dump_json(), new_version, score, decay, person.person_id)
        if expected_version is None:
            changed = self._write(
                "INSERT INTO people (data, version, score, decay_due_at, person_id) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                values,
            )
        else:
            changed = self._write(
                "UPDATE people SET data = ?, version = ?, score = ?, decay_due_at = ?"
                " WHERE person_id = ? AND version = ?",
                (*values, expected_version),
            )
        if not changed:
            raise VersionConflict(person.person_id)
        return new_version

    def advocates(self, min_score: float, limit: int) -> list[Person]:
        return self.advocates_page(min_score, limit)[0]

    def advocates_page(self, min_score: float, limit: int, cursor: str | None = None) -> Page[Person]:
        scope = f"advocates:{float(min_score)}"
        after = _position(cursors.decode(scope, cursor), (float, str))
        sql, args = "SELECT data, score, person_id FROM people WHERE score >= ?", [float(min_score)]
        if after:
            sql += " AND (score < ? OR (score = ? AND person_id < ?))"
            args += [after[0], after[0], after[1]]
        rows = self._all(sql + " ORDER BY score DESC, person_id DESC LIMIT ?", (*args, limit + 1))
        return _paged(scope, rows, limit, Person.model_validate_json, lambda r: [r[1], r[2]])

    def people_due_for_decay(self, now: datetime, limit: int) -> list[str]:
        rows = self._all(
            "SELECT person_id FROM people WHERE decay_due_at <= ? ORDER BY decay_due_at LIMIT ?",
            (now.isoformat(), limit),
        )
        return [r[0] for r in rows]

    # ---- interactions -------------------------------------------------------------------------
    def get_interaction(self, person_id: str, interaction_id: str) -> Interaction | None:
        row = self._one(
            "SELECT data FROM interactions WHERE person_id = ? AND interaction_id = ?",
            (person_id, interaction_id),
        )
        return Interaction.model_validate_json(row[0]) if row else None

    def put_interaction(self, interaction: Interaction) -> bool:
        sort = f"{interaction.occurred_at.isoformat()}#{interaction.interaction_id}"
        changed = self._write(
            "INSERT INTO interactions VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
            " connector_id = excluded.connector_id, connector_sort = excluded.connector_sort,"
            " version_time = excluded.version_time, data = excluded.data"
            " WHERE interactions.version_time <= excluded.version_time",
            (
                interaction.person_id,
                interaction.interaction_id,
                interaction.connector_id,
                sort,
                interaction.version_time.timestamp(),
                interaction.model_dump_json(),
            ),
        )
        return bool(changed)

    def delete_interaction(self, person_id: str, interaction_id: str) -> None:
        self._write(
            "DELETE FROM interactions WHERE person_id = ? AND interaction_id = ?", (person_id, interaction_id)
        )

    def person_interactions(self, person_id: str) -> list[Interaction]:
        rows = self._all("SELECT data FROM interactions WHERE person_id = ?", (person_id,))
        return sorted((Interaction.model_validate_json(r[0]) for r in rows), key=lambda ix: ix.occurred_at)

    def connector_interactions(self, connector_id: str, limit: int) -> list[Interaction]:
        return self.connector_interactions_page(connector_id, limit)[0]

    def thread_interactions(self, connector_id: str, thread_id: str) -> list[Interaction]:
        rows = self._all(
            "SELECT data FROM interactions WHERE connector_id = ? AND json_extract(data, '$.thread_id') = ?"
            " AND json_extract(data, '$.thread_id') IS NOT NULL",
            (connector_id, thread_id),
        )
        return sorted((Interaction.model_validate_json(r[0]) for r in rows), key=lambda ix: ix.occurred_at)

    def person_interactions_page(
        self, person_id: str, limit: int, cursor: str | None = None
    ) -> Page[Interaction]:
        scope = f"interactions:P#{person_id}"
        after = _position(cursors.decode(scope, cursor), (str,))
        rows = self._all(
            "SELECT data, interaction_id FROM interactions WHERE person_id = ? AND interaction_id > ?"
            " ORDER BY interaction_id LIMIT ?",
            (person_id, after[0] if after else "", limit + 1),
        )
        return _paged(scope, rows, limit, Interaction.model_validate_json, lambda r: [r[1]])

    def connector_interactions_page(
        self, connector_id: str, limit: int, cursor: str | None = None
    ) -> Page[Interaction]:
        scope = f"interactions:C#{connector_id}"
        after = _position(cursors.decode(scope, cursor), (str, str))
        sql, args = (
            "SELECT data, connector_sort, person_id FROM interactions WHERE connector_id = ?",
            [connector_id],
        )
        if after:
            sql += " AND (connector_sort < ? OR (connector_sort = ? AND person_id < ?))"
            args += [after[0], after[0], after[1]]
        rows = self._all(sql + " ORDER BY connector_sort DESC, person_id DESC LIMIT ?", (*args, limit + 1))
        return _paged(scope, rows, limit, Interaction.model_validate_json, lambda r: [r[1], r[2]])

    # ---- sync state ---------------------------------------------------------------------------
    def get_sync_states(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], SyncState]:
        found: dict[tuple[str, str], SyncState] = {}
        for person_id, connector_id in dict.fromkeys(keys):
            row = self._one(
                "SELECT data FROM sync_states WHERE person_id = ? AND connector_id = ?",
                (person_id, connector_id),
            )
            if row:
                found[(person_id, connector_id)] = SyncState.from_json(json.loads(row[0]))
        return found

    def put_sync_state(self, state: SyncState) -> None:
        self._write(
            "INSERT INTO sync_states VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET data = excluded.data",
            (state.person_id, state.connector_id, json.dumps(state.to_json(), default=str)),
        )

    def delete_sync_state(self, person_id: str, connector_id: str) -> None:
        self._write(
            "DELETE FROM sync_states WHERE person_id = ? AND connector_id = ?", (person_id, connector_id)
        )

    # ---- dead letters -------------------------------------------------------------------------
    def put_dead_letter(self, letter: DeadLetter) -> None:
        self._write(
            "INSERT INTO dead_letters VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET data = excluded.data",
            (letter.connector_id, _letter_sort(letter), json.dumps(letter.to_json(), default=str)),
        )

    def dead_letters(self, connector_id: str, limit: int) -> list[DeadLetter]:
        return self.dead_letters_page(connector_id, limit)[0]

    def dead_letters_page(self, connector_id: str, limit: int, cursor: str | None = None) -> Page[DeadLetter]:
        scope = f"dead_letters:{connector_id}"
        after = _position(cursors.decode(scope, cursor), (str,))
        rows = self._all(
            "SELECT data, sort FROM dead_letters WHERE connector_id = ? AND sort > ? ORDER BY sort LIMIT ?",
            (connector_id, after[0] if after else "", limit + 1),
        )
        return _paged(scope, rows, limit, lambda d: DeadLetter.from_json(json.loads(d)), lambda r: [r[1]])

    def delete_dead_letter(self, letter: DeadLetter) -> None:
        self._write(
            "DELETE FROM dead_letters WHERE connector_id = ? AND sort = ?",
            (letter.connector_id, _letter_sort(letter)),
        )

    # ---- connector counters -------------------------------------------------------------------
    def count_event(self, connector_id: str, reason: str) -> None:
        self._write(
            "INSERT INTO connector_counts VALUES (?, ?, 1) ON CONFLICT DO UPDATE SET n = n + 1",
            (connector_id, reason),
        )

    def event_counts(self, connector_id: str) -> dict[str, int]:
        rows = self._all("SELECT reason, n FROM connector_counts WHERE connector_id = ?", (connector_id,))
        return dict(rows)

    def touch_connector(self, connector_id: str, received_at: datetime) -> None:
        stamp = received_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._write(
            "INSERT INTO connector_seen VALUES (?, ?) ON CONFLICT DO UPDATE SET"
            " last_delivery_at = excluded.last_delivery_at WHERE last_delivery_at < excluded.last_delivery_at",
            (connector_id, stamp),
        )

    def connector_stats(self, connector_ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for cid in connector_ids:
            seen = self._one("SELECT last_delivery_at FROM connector_seen WHERE connector_id = ?", (cid,))
            found[cid] = {"counts": self.event_counts(cid), "last_delivery_at": seen[0] if seen else None}
        return found

    # ---- budgets ------------------------------------------------------------------------------
    def budget_take(self, key: str, window: int, limit: int, ttl: int) -> bool:
        changed = self._write(
            "INSERT INTO budget_windows VALUES (?, ?, 1, ?) ON CONFLICT DO UPDATE SET"
            " used = used + 1, expires_at = excluded.expires_at WHERE used < ?",
            (key, window, ttl, limit),
        )
        self._count_ttl_write()
        return bool(changed)

    def get_token(self, key: str) -> tuple[str, float] | None:
        row = self._one("SELECT sealed, expires_at FROM oauth_tokens WHERE key = ?", (key,))
        return (str(row[0]), float(row[1])) if row else None

    def put_token(self, key: str, sealed: str, expires_at: float) -> None:
        self._write(
            "INSERT INTO oauth_tokens VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET"
            " sealed = excluded.sealed, expires_at = excluded.expires_at",
            (key, sealed, expires_at),
        )

    def budget_blocked_until(self, key: str) -> float:
        row = self._one("SELECT until FROM budget_blocks WHERE key = ?", (key,))
        return float(row[0]) if row else 0.0

    def budget_block(self, key: str, until: float) -> None:
        until = round(until, 3)
        self._write(
            "INSERT INTO budget_blocks VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET"
            " until = excluded.until, expires_at = excluded.expires_at WHERE until < excluded.until",
            (key, until, int(until) + 3600),
        )

    # ---- create claims ------------------------------------------------------------------------
    def claim_create(self, key: str, now: datetime, lease_seconds: float) -> tuple[bool, str | None, float]:
        stamp = now.timestamp()
        until = stamp + lease_seconds
        changed = self._write(
            # a new claim replaces the whole item, as DynamoDB's conditional put does
            "INSERT INTO create_claims VALUES (?, ?, NULL, ?) ON CONFLICT DO UPDATE SET"
            " until = excluded.until, crm_id = NULL, expires_at = excluded.expires_at WHERE until <= ?",
            (key, until, int(until) + 86400, stamp),
        )
        self._count_ttl_write()
        if changed:
            return True, None, until
        row = self._one("SELECT crm_id, until FROM create_claims WHERE key = ?", (key,))
        return (False, row[0], float(row[1])) if row else (False, None, stamp)

    def record_created(self, key: str, crm_id: str) -> None:
        # DynamoDB's update_item makes the item when missing: keep the id either way
        self._write(
            "INSERT INTO create_claims VALUES (?, 0, ?, ?) ON CONFLICT DO UPDATE SET crm_id = excluded.crm_id",
            (key, crm_id, self.clock() + 86400),
        )

    # ---- closed loop --------------------------------------------------------------------------
    def claim_loop_slot(
        self, person_id: str, rule: str, interaction_id: str, now: datetime, cooldown_seconds: float
    ) -> bool:
        stamp = now.timestamp()
        changed = self._write(
            "INSERT INTO loop_caps VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
            " last_at = excluded.last_at, interaction_id = excluded.interaction_id"
            " WHERE last_at <= ? OR interaction_id = excluded.interaction_id",
            (person_id, rule, stamp, interaction_id, stamp - cooldown_seconds),
        )
        return bool(changed)

    def put_action(self, action: Action) -> bool:
        changed = self._write(
            "INSERT INTO actions VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                action.person_id,
                action.action_id,
                f"{action.created_at.isoformat()}#{action.action_id}",
                action.model_dump_json(),
            ),
        )
        return bool(changed)

    def actions_page(self, person_id: str | None, limit: int, cursor: str | None = None) -> Page[Action]:
        if person_id:
            scope = f"actions:{person_id}"
            after = _position(cursors.decode(scope, cursor), (str,))
            rows = self._all(
                "SELECT data, action_id FROM actions WHERE person_id = ? AND action_id > ?"
                " ORDER BY action_id LIMIT ?",
                (person_id, after[0] if after else "", limit + 1),
            )
            return _paged(scope, rows, limit, Action.model_validate_json, lambda r: [r[1]])
        scope = "actions:*"
        after = _position(cursors.decode(scope, cursor), (str, str))
        sql, args = "SELECT data, all_sort, person_id FROM actions", []
        if after:
            sql += " WHERE all_sort < ? OR (all_sort = ? AND person_id < ?)"
            args = [after[0], after[0], after[1]]
        rows = self._all(sql + " ORDER BY all_sort DESC, person_id DESC LIMIT ?", (*args, limit + 1))
        return _paged(scope, rows, limit, Action.model_validate_json, lambda r: [r[1], r[2]])

    # ---- merges -------------------------------------------------------------------------------
    def put_merge(self, merge: MergeRecord) -> None:
        self._write(
            "INSERT INTO merges VALUES (?, ?) ON CONFLICT DO UPDATE SET data = excluded.data",
            (merge.merge_id, merge.model_dump_json()),
        )

    def get_merge(self, merge_id: str) -> MergeRecord | None:
        row = self._one("SELECT data FROM merges WHERE merge_id = ?", (merge_id,))
        return MergeRecord.model_validate_json(row[0]) if row else None

    def delete_merge(self, merge_id: str) -> None:
        self._write("DELETE FROM merges WHERE merge_id = ?", (merge_id,))

    # ---- listener cursors (store/listener_cursors.py) -----------------------------------------
    def get_cursor(self, connector_id: str, feed: str) -> ListenerCursor | None:
        row = self._one(
            "SELECT data FROM listener_cursors WHERE connector_id = ? AND feed = ?", (connector_id, feed)
        )
        return cursor_from_json(row[0]) if row else None

    def put_cursor(self, cursor: ListenerCursor) -> None:
        self._write(
            "INSERT INTO listener_cursors VALUES (?, ?, ?)"
            " ON CONFLICT (connector_id, feed) DO UPDATE SET data = excluded.data",
            (cursor.connector_id, cursor.feed, cursor_to_json(cursor)),
        )

    def connector_cursors(self, connector_id: str) -> list[ListenerCursor]:
        rows = self._all(
            "SELECT data FROM listener_cursors WHERE connector_id = ? ORDER BY feed", (connector_id,)
        )
        return [cursor_from_json(r[0]) for r in rows]

    # ---- cross-connector keys (store/interaction_keys.py) -------------------------------------
    def find_interaction_key(self, key: str) -> tuple[str, str] | None:
        row = self._one(
            "SELECT person_id, interaction_id FROM interaction_keys WHERE key_hash = ?", (_key_hash(key),)
        )
        return (row[0], row[1]) if row else None

    def claim_interaction_key(self, key: str, person_id: str, interaction_id: str) -> tuple[str, str]:
        """One statement: insert, or move the pointer when it names the same interaction."""
        self._write(
            "INSERT INTO interaction_keys VALUES (?, ?, ?) ON CONFLICT (key_hash) DO UPDATE"
            " SET person_id = excluded.person_id WHERE interaction_id = excluded.interaction_id",
            (_key_hash(key), person_id, interaction_id),
        )
        return self.find_interaction_key(key) or (person_id, interaction_id)

    def delete_interaction_key(self, key: str, interaction_id: str) -> None:
        self._write(
            "DELETE FROM interaction_keys WHERE key_hash = ? AND interaction_id = ?",
            (_key_hash(key), interaction_id),
        )

    # ---- privacy ------------------------------------------------------------------------------
    def person_items(self, person_id: str) -> PersonItems:
        found = PersonItems()
        with self._transaction("DEFERRED") as db:  # one snapshot of the whole partition
            profile = db.execute("SELECT data FROM people WHERE person_id = ?", (person_id,)).fetchone()
            found.person = Person.model_validate_json(profile[0]) if profile else None
            found.interactions = [
                Interaction.model_validate_json(r[0])
                for r in db.execute("SELECT data FROM interactions WHERE person_id = ?", (person_id,))
            ]
            found.sync_states = [
                SyncState.from_json(json.loads(r[0]))
                for r in db.execute("SELECT data FROM sync_states WHERE person_id = ?", (person_id,))
            ]
            found.actions = [
                Action.model_validate_json(r[0])
                for r in db.execute("SELECT data FROM actions WHERE person_id = ?", (person_id,))
            ]
            found.other = [
                {"kind": "loop_cap", "rule": rule, "last_at": last_at, "interaction_id": ix}
                for rule, last_at, ix in db.execute(
                    "SELECT rule, last_at, interaction_id FROM loop_caps WHERE person_id = ?", (person_id,)
                )
            ]
        return found

    def delete_person_items(self, person_id: str) -> int:
        with self._transaction() as db:
            return sum(
                db.execute(f"DELETE FROM {table} WHERE person_id = ?", (person_id,)).rowcount
                for table in PERSON_TABLES
            )

    def forget_deleted(self) -> bool:
        """Make deleted rows unrecoverable from the files: secure_delete zeroed them in the pages;
        this copies those pages into the database file and truncates the WAL, which still held
        their older versions. False when readers kept the WAL busy (the next erasure retries)."""
        for _ in range(50):
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return True
            time.sleep(0.1)
        return False

    def erasure_salt(self) -> str:
        if self._salt is None:
            self._write(
                "INSERT INTO meta VALUES ('erasure_salt', ?) ON CONFLICT DO NOTHING", (secrets.token_hex(32),)
            )
            row = self._one("SELECT value FROM meta WHERE name = 'erasure_salt'")
            assert row is not None
            self._salt = row[0]
        return self._salt

    def put_erasures(self, hashes: list[str], erased_at: datetime) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO erasures VALUES (?, ?) ON CONFLICT DO UPDATE SET erased_at = excluded.erased_at",
                [(h, erased_at.isoformat()) for h in dict.fromkeys(hashes)],
            )

    def any_erased(self, hashes: list[str]) -> bool:
        unique = list(dict.fromkeys(hashes))[:500]
        if not unique:
            return False
        return (
            self._one(f"SELECT 1 FROM erasures WHERE hash IN ({_marks(unique)}) LIMIT 1", tuple(unique))
            is not None
        )


def synchronous_mode() -> str:
    """PRAGMA synchronous for every SQLite file of the local hub (docs/storage.md, Durability)."""
    value = os.environ.get("CHORUS_SQLITE_SYNCHRONOUS", "NORMAL").upper()
    return value if value in ("OFF", "NORMAL", "FULL", "EXTRA") else "NORMAL"


def _key_hash(key: str) -> str:
    """Keys are kept hashed, as in DynamoDB: a permalink can name its author."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def _marks(values: list[Any]) -> str:
    return ",".join("?" * len(values))


def _letter_sort(letter: DeadLetter) -> str:
    return f"{letter.created_at.isoformat()}#{letter.dead_letter_id}"


def _position(value: Any, types: tuple[type, ...]) -> list[Any] | None:
    """A keyset position from a cursor: a list of the listing's sort values, of these types."""
    if value is None:
        return None
    ok = isinstance(value, list) and len(value) == len(types)
    ok = ok and all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(value, types))
    if not ok:
        raise BadCursor("not a cursor this store handed out")
    return value


def _paged(
    scope: str,
    rows: list[tuple[Any, ...]],
    limit: int,
    load: Callable[[str], Any],
    position: Callable[[tuple[Any, ...]], list[Any]],
) -> Page[Any]:
    """Rows were read with LIMIT limit + 1: the extra one says whether a next page exists."""
    page = rows[:limit]
    nxt = cursors.encode(scope, position(page[-1])) if len(rows) > limit and page else None
    return [load(r[0]) for r in page], nxt
