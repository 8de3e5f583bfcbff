"""The local hub's queue file keeps SQS's contract: visibility, deletes by latest receipt,
retry_later, redrive to the dead-letter queue, and sharing between processes."""

import json
import subprocess
import sys
import time

from chalicelib.runtime.local_queue import LocalQueue


def queues(tmp_path, visibility=0.2, max_receives=3):
    path = tmp_path / "queues.sqlite3"
    work = LocalQueue(
        path, "work", dead_letter="work-dlq", max_receives=max_receives, visibility_seconds=visibility
    )
    return work, LocalQueue(path, "work-dlq", visibility_seconds=visibility)


def test_a_received_message_is_hidden_until_its_visibility_timeout(tmp_path):
    work, _ = queues(tmp_path)
    work.send({"n": 1})
    [record] = work.receive()
    assert json.loads(record["body"]) == {"n": 1}
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert work.receive() == []
    time.sleep(0.25)
    [again] = work.receive()
    assert again["messageId"] == record["messageId"]
    assert again["receiptHandle"] != record["receiptHandle"]
    assert again["attributes"]["ApproximateReceiveCount"] == "2"


def test_delete_needs_the_latest_receipt(tmp_path):
    work, _ = queues(tmp_path)
    work.send({"n": 1})
    [first] = work.receive()
    time.sleep(0.25)
    [second] = work.receive()
    work.delete([first["receiptHandle"]])
    assert work.depth() == 1
    work.delete([second["receiptHandle"]])
    assert work.depth() == 0


def test_messages_come_out_in_order_in_batches_of_at_most_ten(tmp_path):
    work, _ = queues(tmp_path)
    work.send_many([{"n": n} for n in range(15)])
    first, second = work.receive(10), work.receive(10)
    assert [json.loads(r["body"])["n"] for r in first + second] == list(range(15))
    assert len(first) == 10


def test_retry_later_holds_a_message_back(tmp_path):
    work, _ = queues(tmp_path, visibility=0.05)
    work.send({"n": 1})
    [record] = work.receive()
    work.retry_later(record["receiptHandle"], 0.4)
    time.sleep(0.2)
    assert work.receive() == []
    time.sleep(0.3)
    assert len(work.receive()) == 1


def test_after_max_receives_the_message_moves_to_the_dead_letter_queue(tmp_path):
    work, dlq = queues(tmp_path, visibility=0.0, max_receives=3)
    work.send({"n": 1})
    receipts = [work.receive()[0]["attributes"]["ApproximateReceiveCount"] for _ in range(3)]
    assert receipts == ["1", "2", "3"]
    assert work.receive() == []  # the fourth receive redrives instead of delivering
    [dead] = dlq.receive()
    assert json.loads(dead["body"]) == {"n": 1}
    assert work.depth() == 0 and dlq.depth() == 1


def test_long_polling_returns_as_soon_as_a_message_arrives(tmp_path):
    work, _ = queues(tmp_path)
    started = time.monotonic()
    assert work.receive(wait_seconds=0.3) == []
    assert time.monotonic() - started >= 0.3
    work.send({"n": 1})
    started = time.monotonic()
    assert len(work.receive(wait_seconds=5)) == 1
    assert time.monotonic() - started < 1


def test_another_process_sends_and_this_one_receives_each_message_once(tmp_path):
    work, _ = queues(tmp_path, visibility=30)
    script = (
        "import sys; from chalicelib.runtime.local_queue import LocalQueue; "
        "q = LocalQueue(sys.argv[1], 'work', dead_letter='work-dlq'); "
        "[q.send({'n': n}) for n in range(200)]"
    )
    senders = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "queues.sqlite3")]) for _ in range(2)
    ]
    seen = []
    deadline = time.monotonic() + 30
    while len(seen) < 400 and time.monotonic() < deadline:
        batch = work.receive(10, wait_seconds=0.5)
        seen += [r["messageId"] for r in batch]
        work.delete([r["receiptHandle"] for r in batch])
    assert all(p.wait(timeout=30) == 0 for p in senders)
    assert len(seen) == 400 and len(set(seen)) == 400
    assert work.depth() == 0


def test_full_durability_applies_to_the_queue_file_and_the_inbox_too(tmp_path, monkeypatch):
    from chalicelib.runtime.local_inbox import Inbox

    monkeypatch.setenv("CHORUS_SQLITE_SYNCHRONOUS", "FULL")
    work, _ = queues(tmp_path)
    inbox = Inbox(tmp_path, tmp_path / "queues.sqlite3")
    full = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL
    assert work._db.execute("PRAGMA synchronous").fetchone()[0] == full
    assert inbox._db.execute("PRAGMA synchronous").fetchone()[0] == full
    inbox.close()
