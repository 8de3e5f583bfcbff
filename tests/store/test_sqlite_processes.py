"""The SQLite store across the local hub's processes: conditional writes hold when several
processes race on one file (what the hub's workers do)."""

from __future__ import annotations

import multiprocessing

from chalicelib.store import VersionConflict
from chalicelib.store.sqlite import SqliteStore
from tests.store.factories import link, person

WORKERS, ROUNDS = 4, 25


def _claim_race(path: str, worker: int, start, results) -> None:
    store = SqliteStore(path)
    start.wait()
    won = []
    for n in range(ROUNDS):  # every worker claims the same new person's three identities
        links = [link(f"r{n}-{k}@example.com") for k in range(3)]
        if store.claim_identity_links(links, f"w{worker}-{n}"):
            won.append(n)
    results.put(won)


def _increment(path: str, start, results) -> None:
    store = SqliteStore(path)
    start.wait()
    conflicts = 0
    for _ in range(ROUNDS):
        while True:  # read, change, write if nobody wrote meanwhile: the pipeline's update loop
            current, version = store.get_person_versioned("counter")
            current.stats.interaction_count += 1
            try:
                store.put_person(current, version)
                break
            except VersionConflict:
                conflicts += 1
    results.put(conflicts)


def _run(target, args) -> list:
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args(i), start, results)) for i in range(WORKERS)]
    for p in procs:
        p.start()
    start.set()
    found = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    return found


def test_one_process_wins_each_identity_set_whole(tmp_path):
    path = str(tmp_path / "store.sqlite3")
    SqliteStore(path)  # the schema, before the race
    wins = _run(_claim_race, lambda i: (path, i))
    assert sorted(n for won in wins for n in won) == list(range(ROUNDS))  # each set won exactly once
    store = SqliteStore(path)
    for n in range(ROUNDS):
        owners = set(store.find_identities([link(f"r{n}-{k}@example.com") for k in range(3)]).values())
        assert len(owners) == 1  # never split between two people


def test_versioned_updates_lose_nothing_across_processes(tmp_path):
    path = str(tmp_path / "store.sqlite3")
    SqliteStore(path).put_person(person("counter"), None)
    _run(_increment, lambda i: (path,))
    assert SqliteStore(path).get_person("counter").stats.interaction_count == WORKERS * ROUNDS


def test_a_unit_of_work_commits_whole_or_not_at_all(tmp_path):
    path = str(tmp_path / "store.sqlite3")
    store, other = SqliteStore(path), SqliteStore(path)
    try:
        with store.atomic():
            store.put_person(person("p1"), None)
            assert other.get_person("p1") is None  # not visible to another connection before commit
            raise RuntimeError("crash mid-message")
    except RuntimeError:
        pass
    assert other.get_person("p1") is None  # rolled back whole
    with store.atomic():
        store.put_person(person("p1"), None)
        store.mark_processed("c", "e1", 1)
    assert other.get_person("p1") is not None and other.is_processed("c", "e1")


def _hold_the_writer_turn(path: str, name: str, held, release) -> None:
    store = SqliteStore(path)
    with store.atomic():
        store.put_person(person(name), None)
        held.set()
        release.wait(10)


def _wait_for_the_other_writer(path: str, store: SqliteStore, round_: int) -> float:
    """Seconds from another process's commit to this process's write going through."""
    import threading
    import time

    ctx = multiprocessing.get_context("fork")
    held, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_the_writer_turn, args=(path, f"first-{round_}", held, release))
    holder.start()
    assert held.wait(10)
    done: list[float] = []

    def second_writer() -> None:
        with store.atomic():  # waits for the other process's transaction
            store.put_person(person(f"second-{round_}"), None)
        done.append(time.monotonic())

    writer = threading.Thread(target=second_writer)
    writer.start()
    time.sleep(0.25)  # long enough for SQLite's busy handler to be in its 100 ms sleeps
    assert not done
    released = time.monotonic()
    release.set()
    writer.join(10)
    holder.join(10)
    assert holder.exitcode == 0
    return done[0] - released


def test_a_writer_waiting_for_another_process_starts_as_soon_as_it_commits(tmp_path):
    """Writers queue on the store's lock file, not on SQLite's busy wait alone (which sleeps up
    to 100 ms between tries: 30-100 ms here after a commit): the waiting writer goes through
    within a few milliseconds."""
    import statistics

    path = str(tmp_path / "store.sqlite3")
    store = SqliteStore(path)
    waits = [_wait_for_the_other_writer(path, store, n) for n in range(5)]
    assert all(store.get_person(f"{who}-{n}") for who in ("first", "second") for n in range(5))
    assert statistics.median(waits) < 0.02, [f"{w * 1000:.0f} ms" for w in waits]
