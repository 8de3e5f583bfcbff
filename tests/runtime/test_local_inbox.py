"""The HTTP process's inbox: acks never wait for the queue file's lock, and every acknowledged
message reaches the queue file exactly once, whatever stops the mover between two steps."""

from __future__ import annotations

import json
import sqlite3
import time

from chalicelib.runtime.local_inbox import Inbox, InboxMover
from chalicelib.runtime.local_queue import LocalQueue


def setup(tmp_path):
    queue_file = tmp_path / "queues.sqlite3"
    work = LocalQueue(queue_file, "work", visibility_seconds=30)
    inbox = Inbox(tmp_path, queue_file)
    return work, inbox, InboxMover(tmp_path, queue_file)


def bodies(records):
    return sorted(json.loads(r["body"])["n"] for r in records)


def test_sends_reach_the_queue_once_and_are_pruned(tmp_path):
    work, inbox, mover = setup(tmp_path)
    inbox.queue("work").send_many([{"n": n} for n in range(5)])
    assert work.receive(10) == []  # not moved yet: the worker's queue knows nothing
    assert inbox.pending() == {"work": (5, inbox.pending()["work"][1])}
    assert mover.move_once() == 5
    assert mover.move_once() == 0  # moved once, never twice
    assert inbox.pending() == {}
    assert bodies(work.receive(10)) == [0, 1, 2, 3, 4]
    assert inbox.prune() == 5
    inbox.queue("work").send({"n": 5})
    assert mover.move_once() == 1
    assert bodies(work.receive(10)) == [5]


def test_a_mover_restarted_after_a_crash_moves_only_what_is_left(tmp_path):
    work, inbox, mover = setup(tmp_path)
    inbox.queue("work").send_many([{"n": n} for n in range(3)])
    mover.move_once()
    inbox.queue("work").send_many([{"n": n} for n in range(3, 6)])
    again = InboxMover(tmp_path, tmp_path / "queues.sqlite3")  # a new worker process, same files
    assert again.move_once() == 3
    assert bodies(work.receive(10)) == [0, 1, 2, 3, 4, 5]


def test_a_new_inbox_file_starts_over_without_losing_its_rows(tmp_path):
    work, inbox, mover = setup(tmp_path)
    inbox.queue("work").send_many([{"n": n} for n in range(3)])
    mover.move_once()
    inbox.close()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"inbox.sqlite3{suffix}").unlink(missing_ok=True)
    fresh = Inbox(tmp_path, tmp_path / "queues.sqlite3")  # its rows count from 1 again
    fresh.queue("work").send({"n": 9})
    assert InboxMover(tmp_path, tmp_path / "queues.sqlite3").move_once() == 1
    assert bodies(work.receive(10)) == [0, 1, 2, 9]


def test_a_send_does_not_wait_for_a_lock_held_on_the_queue_file(tmp_path):
    work, inbox, _ = setup(tmp_path)
    holder = sqlite3.connect(tmp_path / "queues.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # a worker stopped inside a transaction
    try:
        started = time.monotonic()
        for n in range(50):
            inbox.queue("work").send({"n": n})
        assert time.monotonic() - started < 1.0  # a LocalQueue send would wait 30 s for the lock
        inbox.pending()  # health reads the queue file's moved mark: a read, not blocked either
    finally:
        holder.execute("ROLLBACK")
        holder.close()
