"""The HTTP process's side of the local queues: an inbox file no other process writes.

An acknowledgement must never wait for a worker. With one queue file, the HTTP process's insert
waited for SQLite's write lock whenever a worker held it (a receive, a delete), and a worker runs
at a lower CPU priority: on a busy machine it could be descheduled while holding the lock, and
the ack waited for it (priority inversion: p99 acks of 50-300 ms, and a stopped worker stalled
every ack). So the HTTP process appends to `inbox.sqlite3`, which only it writes; the worker's
InboxMover copies new rows into the queue file (local_queue.py), recording in the same
transaction the last inbox row copied (so a row is moved exactly once, across crashes), and the
HTTP process prunes the rows already moved. WAL readers never block a writer, nor wait for one.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ..store.sqlite import synchronous_mode

log = logging.getLogger("chorus_hub.local")
INBOX_FILE_NAME = "inbox.sqlite3"
MOVE_BATCH = 500
MOVE_IDLE_SECONDS = 0.02
PRUNE_SECONDS = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS inbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# in the queue file: which inbox (its id) was moved up to which row
_MOVED_SCHEMA = "CREATE TABLE IF NOT EXISTS inbox_moved (inbox_id TEXT PRIMARY KEY, seq INTEGER NOT NULL)"


def _connect(path: str | os.PathLike) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    # NORMAL (the default): a committed send survives a crash of any hub process, not a power cut
    db.execute(f"PRAGMA synchronous={synchronous_mode()}")
    db.execute("PRAGMA secure_delete=ON")
    return db


def _inbox_id(db: sqlite3.Connection) -> str:
    """A random id per inbox file: a new file (the old one deleted) starts its rows from 1 again."""
    db.execute("INSERT OR IGNORE INTO inbox_meta VALUES ('id', ?)", (uuid.uuid4().hex,))
    return db.execute("SELECT value FROM inbox_meta WHERE key = 'id'").fetchone()[0]


class Inbox:
    """The HTTP process's one writer connection; `queue(name)` is what the Hub sends through."""

    def __init__(self, state_dir: str | os.PathLike, queue_file: str | os.PathLike):
        self._lock = threading.Lock()
        self._db = _connect(Path(state_dir) / INBOX_FILE_NAME)
        self._db.executescript(_SCHEMA)
        self.id = _inbox_id(self._db)
        self._queue_db = _connect(queue_file)  # read only here: the moved mark
        self._queue_db.execute(_MOVED_SCHEMA)
        self._pruner: threading.Thread | None = None
        self._halt = threading.Event()

    def queue(self, name: str) -> InboxQueue:
        return InboxQueue(self, name)

    def append(self, name: str, messages: list[dict[str, Any]]) -> None:
        now = time.time()
        rows = [(name, uuid.uuid4().hex, json.dumps(m, separators=(",", ":")), now) for m in messages]
        with self._lock:
            self._db.executemany(
                "INSERT INTO inbox (queue, message_id, body, sent_at) VALUES (?, ?, ?, ?)", rows
            )

    def moved_seq(self) -> int:
        """The last row the worker has copied into the queue file (read there; never waits)."""
        with self._lock:
            row = self._queue_db.execute(
                "SELECT seq FROM inbox_moved WHERE inbox_id = ?", (self.id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def pending(self) -> dict[str, tuple[int, float | None]]:
        """Per queue: rows not yet moved, and the time the oldest of them was sent."""
        moved = self.moved_seq()
        with self._lock:
            rows = self._db.execute(
                "SELECT queue, count(*), min(sent_at) FROM inbox WHERE seq > ? GROUP BY queue", (moved,)
            ).fetchall()
        return {queue: (count, oldest) for queue, count, oldest in rows}

    def prune(self) -> int:
        moved = self.moved_seq()
        with self._lock:
            return self._db.execute("DELETE FROM inbox WHERE seq <= ?", (moved,)).rowcount

    def start_pruning(self) -> None:
        def loop() -> None:
            while not self._halt.wait(PRUNE_SECONDS):
                try:
                    self.prune()
                except sqlite3.Error as exc:  # the next turn tries again
                    log.warning("inbox prune failed", extra={"error": type(exc).__name__})

        self._pruner = threading.Thread(target=loop, name="inbox-prune", daemon=True)
        self._pruner.start()

    def close(self) -> None:
        self._halt.set()
        if self._pruner is not None:
            self._pruner.join(2)
        with self._lock:
            self._db.close()
            self._queue_db.close()


class InboxQueue:
    """The Queue protocol (chalicelib.queues) for the HTTP process: sends only."""

    def __init__(self, inbox: Inbox, name: str):
        self._inbox, self.name = inbox, name

    def send(self, message: dict[str, Any]) -> None:
        self._inbox.append(self.name, [message])

    def send_many(self, messages: list[dict[str, Any]]) -> None:
        if messages:
            self._inbox.append(self.name, messages)

    def retry_later(self, receipt_handle: str, seconds: float) -> None:
        raise RuntimeError("the HTTP process receives nothing, so it has nothing to retry")


class InboxMover(threading.Thread):
    """In the worker process: copies new inbox rows into the queue file, each exactly once."""

    def __init__(self, state_dir: str | os.PathLike, queue_file: str | os.PathLike):
        super().__init__(name="inbox-mover", daemon=True)
        self._inbox_path = Path(state_dir) / INBOX_FILE_NAME
        self._queue = _connect(queue_file)
        self._queue.execute(_MOVED_SCHEMA)
        self._inbox: sqlite3.Connection | None = None
        self._halt = threading.Event()

    def move_once(self) -> int:
        """Move up to MOVE_BATCH rows; how many were moved."""
        if self._inbox is None:
            if not self._inbox_path.exists():
                return 0
            self._inbox = _connect(self._inbox_path)  # read only here: the HTTP process writes it
            self._inbox.executescript(_SCHEMA)
        inbox, queue = self._inbox, self._queue
        found = inbox.execute("SELECT value FROM inbox_meta WHERE key = 'id'").fetchone()
        if found is None:
            return 0
        moved = queue.execute("SELECT seq FROM inbox_moved WHERE inbox_id = ?", found).fetchone()
        rows = inbox.execute(
            "SELECT seq, queue, message_id, body, sent_at FROM inbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (int(moved[0]) if moved else 0, MOVE_BATCH),
        ).fetchall()
        if not rows:
            return 0
        queue.execute("BEGIN IMMEDIATE")
        try:
            queue.executemany(
                "INSERT INTO messages (queue, message_id, body, sent_at, visible_at) VALUES (?, ?, ?, ?, ?)",
                [(q, mid, body, sent, sent) for _, q, mid, body, sent in rows],
            )
            queue.execute(
                "INSERT INTO inbox_moved VALUES (?, ?) ON CONFLICT (inbox_id) DO UPDATE SET seq = excluded.seq",
                (found[0], rows[-1][0]),
            )
            queue.execute("COMMIT")
        except BaseException:
            queue.execute("ROLLBACK")
            raise
        return len(rows)

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                if self.move_once() < MOVE_BATCH:
                    self._halt.wait(MOVE_IDLE_SECONDS)
            except sqlite3.Error as exc:  # the rows stay in the inbox; the next turn moves them
                log.warning("inbox move failed", extra={"error": type(exc).__name__})
                self._halt.wait(1)

    def stop(self) -> None:
        self._halt.set()
        self.join(2)
        self._queue.close()
        if self._inbox is not None:
            self._inbox.close()
