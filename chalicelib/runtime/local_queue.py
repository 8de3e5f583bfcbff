"""The local hub's queues: SQS's contract in one SQLite file shared by the hub's processes.

The HTTP process sends, the worker process receives; a send is one INSERT in WAL mode
(tens of microseconds), where an SQS call to an embedded moto server cost ~4.5 ms of CPU
on the ack path. What the pipeline relies on is kept: a received message is hidden for the
visibility timeout and comes back unless deleted; `retry_later` moves that moment; after
`max_receives` receives the message moves to its dead-letter queue (SQS's redrive policy);
records have SQS's event shape (messageId, receiptHandle, body, ApproximateReceiveCount).

The file is never deleted or recreated: what a crashed or stopped hub had acknowledged is
received again after the restart (in flight messages once their visibility timeout passes).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from ..store.sqlite import synchronous_mode

POLL_INTERVAL_SECONDS = 0.05

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    receives INTEGER NOT NULL DEFAULT 0,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_at);
CREATE UNIQUE INDEX IF NOT EXISTS messages_receipt ON messages (receipt);
"""


class LocalQueue:
    """One named queue in the shared file. Thread-safe; one SQLite connection per instance."""

    def __init__(
        self,
        path: str | Path,
        name: str,
        *,
        dead_letter: str | None = None,
        max_receives: int = 5,
        visibility_seconds: float = 30,
    ):
        self.name, self.dead_letter = name, dead_letter
        self.max_receives, self.visibility_seconds = max_receives, visibility_seconds
        self._lock = threading.Lock()
        # autocommit (isolation_level=None): every statement commits, BEGIN IMMEDIATE groups a receive
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL (the default): a committed send survives a crash of any hub process, not a power cut
        self._db.execute(f"PRAGMA synchronous={synchronous_mode()}")
        # a processed delivery's bytes are zeroed, not left in free pages (erasure, secrets in bodies)
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.executescript(_SCHEMA)

    # the producer side (the Queue protocol of chalicelib.queues)

    def send(self, message: dict[str, Any]) -> None:
        self.send_many([message])

    def send_many(self, messages: list[dict[str, Any]]) -> None:
        now = time.time()
        rows = [
            (self.name, uuid.uuid4().hex, json.dumps(m, separators=(",", ":")), now, now) for m in messages
        ]
        with self._lock:
            self._db.executemany(
                "INSERT INTO messages (queue, message_id, body, sent_at, visible_at) VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def retry_later(self, receipt_handle: str, seconds: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE messages SET visible_at = ? WHERE receipt = ?",
                (time.time() + max(0.0, seconds), receipt_handle),
            )

    # the consumer side (what the local pollers call instead of ReceiveMessage/DeleteMessageBatch)

    def receive(self, max_messages: int = 10, wait_seconds: float = 0) -> list[dict[str, Any]]:
        """Up to `max_messages` visible messages as SQS event records; waits up to
        `wait_seconds` for one to arrive (long polling)."""
        deadline = time.monotonic() + wait_seconds
        while True:
            records = self._receive_now(max_messages)
            if records or time.monotonic() >= deadline:
                return records
            time.sleep(POLL_INTERVAL_SECONDS)

    def delete(self, receipt_handles: list[str]) -> None:
        """Delete received messages; a receipt of an earlier receive no longer matches (as in SQS,
        where a message received again must be deleted with its latest receipt)."""
        if not receipt_handles:
            return
        with self._lock:
            self._db.executemany("DELETE FROM messages WHERE receipt = ?", [(r,) for r in receipt_handles])

    def depth(self) -> int:
        """Messages in this queue, in flight or not."""
        with self._lock:
            return self._db.execute("SELECT count(*) FROM messages WHERE queue = ?", (self.name,)).fetchone()[
                0
            ]

    def stats(self) -> tuple[int, float | None]:
        """(messages in this queue, in flight or not; seconds since the oldest was sent, or None)."""
        with self._lock:
            depth, oldest = self._db.execute(
                "SELECT count(*), min(sent_at) FROM messages WHERE queue = ?", (self.name,)
            ).fetchone()
        return depth, (round(max(0.0, time.time() - oldest), 3) if oldest is not None else None)

    def _receive_now(self, max_messages: int) -> list[dict[str, Any]]:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    "SELECT seq, message_id, body, sent_at, receives FROM messages "
                    "WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, seq LIMIT ?",
                    (self.name, now, max_messages),
                ).fetchall()
                records = []
                for seq, message_id, body, sent_at, receives in rows:
                    if self.dead_letter and receives >= self.max_receives:
                        self._db.execute(
                            "UPDATE messages SET queue = ?, receives = 0, receipt = NULL, "
                            "visible_at = ? WHERE seq = ?",
                            (self.dead_letter, now, seq),
                        )
                        continue
                    receipt = uuid.uuid4().hex
                    self._db.execute(
                        "UPDATE messages SET receives = ?, receipt = ?, visible_at = ? WHERE seq = ?",
                        (receives + 1, receipt, now + self.visibility_seconds, seq),
                    )
                    records.append(
                        {
                            "messageId": message_id,
                            "receiptHandle": receipt,
                            "body": body,
                            "eventSource": "aws:sqs",
                            "attributes": {
                                "ApproximateReceiveCount": str(receives + 1),
                                "SentTimestamp": str(int(sent_at * 1000)),
                            },
                        }
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return records

    def close(self) -> None:
        with self._lock:
            self._db.close()
