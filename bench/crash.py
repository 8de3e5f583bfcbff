"""Crash safety: SIGKILL the hub in the middle of delivery bursts and count what survives.

`chorus serve` (demo connectors, SQLite store) runs as a subprocess in a temporary state
directory. Each round sends a burst of distinct signed Typeform surveys from a pool of sender
threads and, once a random share (30-70%) of the burst is acknowledged, SIGKILLs
- mode `hub`: every process of the hub at once (the HTTP process and the worker), then starts a
  new `chorus serve` on the same state directory;
- mode `worker`: the worker process only (the supervisor starts a new one; the HTTP process
  keeps acknowledging).
Whatever was not acknowledged is sent again, as a provider retries, until the whole burst is.
Deliveries cut off mid-flight are in the queue and sent again, so the de-duplication is tested
too. After the last round it waits for the queues to drain and reads the store:
lost = acknowledged deliveries with no interaction; duplicated = interactions stored twice, or a
person whose interaction count says one delivery was applied twice. Both must be 0."""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .common import table, write_result
from .e2e import CONNECTOR, free_port, signed, start_server, survey

DRAIN_SECONDS = 900


class Hub:
    def __init__(self, workdir: Path):
        self.workdir, self.port = workdir, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.proc = start_server(self.workdir, self.port)
        self.starts += 1

    def health(self) -> dict[str, Any]:
        import requests

        return requests.get(f"{self.url}/health", timeout=10).json()

    def pids(self) -> dict[str, int]:
        return {p["role"]: p["pid"] for p in self.health()["processes"] if p.get("pid")}

    def kill(self, roles: tuple[str, ...]) -> None:
        pids = self.pids()
        for role in roles:
            if role in pids:
                os.kill(pids[role], signal.SIGKILL)
        if "http" in roles and self.proc is not None:
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def send_burst(hub: Hub, numbers: list[int], kill_after: int | None, mode: str, senders: int) -> set[int]:
    """Send each survey once; kill the hub (or its worker) after `kill_after` acks. The acked ones."""
    import requests

    acked: set[int] = set()
    lock = threading.Lock()
    killed = threading.Event()
    local = threading.local()

    def send(n: int) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        body = survey(n)
        try:
            ok = session.post(f"{hub.url}/webhooks/{CONNECTOR}", data=body, headers=signed(body), timeout=10)
            status = ok.status_code
        except requests.RequestException:
            local.session = None
            return
        if status != 200:
            return
        with lock:
            acked.add(n)
            due = kill_after is not None and len(acked) >= kill_after and not killed.is_set()
            if due:
                killed.set()
        if due:
            hub.kill(("http", "workers") if mode == "hub" else ("workers",))

    with ThreadPoolExecutor(max_workers=senders) as pool:
        list(pool.map(send, numbers))
    return acked


def stored(workdir: Path) -> tuple[list[str], dict[str, int]]:
    """Interaction ids of the connector, and each one's person's interaction count."""
    from chalicelib.store.local import open_local_storage

    store = open_local_storage(workdir / ".chorus").store
    ids: list[str] = []
    counts: dict[str, int] = {}
    cursor = None
    while True:
        items, cursor = store.connector_interactions_page(CONNECTOR, 500, cursor)
        for item in items:
            ids.append(item.interaction_id)
            person = store.get_person(item.person_id)
            counts[item.interaction_id] = person.stats.interaction_count if person else 0
        if not cursor:
            return ids, counts


def run_mode(mode: str, rounds: int, burst: int, senders: int, seed: int) -> dict[str, Any]:
    from chalicelib.providers.base import interaction_id

    rng = random.Random(seed)
    base = 1_000_000 if mode == "hub" else 2_000_000
    with tempfile.TemporaryDirectory(prefix=f"chorus-crash-{mode}-") as tmp:
        hub = Hub(Path(tmp))
        hub.start()
        acked_total: set[int] = set()
        resent = kills = 0
        started = time.perf_counter()
        try:
            for r in range(rounds):
                numbers = list(range(base + r * burst, base + (r + 1) * burst))
                kill_after = int(burst * rng.uniform(0.3, 0.7))
                pending, first = numbers, True
                while pending:
                    acked = send_burst(hub, pending, kill_after if first else None, mode, senders)
                    if first:
                        kills += 1
                    acked_total |= acked
                    pending = [n for n in pending if n not in acked]
                    resent += len(pending)
                    if hub.proc is not None and hub.proc.poll() is not None:
                        hub.start()  # the whole hub was killed: start it again on its state directory
                    first = False
            expected = {interaction_id(CONNECTOR, f"e2e-token-{n}") for n in acked_total}
            deadline = time.time() + DRAIN_SECONDS
            while time.time() < deadline:
                queues = hub.health()["queues"]
                if all(q.get("depth") == 0 for q in queues.values()):
                    break
                time.sleep(1)
            restarts = next(p["restarts"] for p in hub.health()["processes"] if p["role"] == "workers")
            ids, counts = stored(hub.workdir)
            drained = time.perf_counter() - started
        finally:
            hub.stop()
    lost = len(expected - set(ids))
    duplicated = (len(ids) - len(set(ids))) + sum(1 for c in counts.values() if c > 1)
    return {
        "mode": mode,
        "rounds": rounds,
        "burst": burst,
        "kills": kills,
        "hub_starts": hub.starts,
        "worker_restarts": restarts,
        "acknowledged": len(acked_total),
        "resent": resent,
        "stored": len(set(ids)),
        "lost": lost,
        "duplicated": duplicated,
        "unexpected": len(set(ids) - expected),
        "seconds": round(drained, 1),
    }


def run(
    rounds: int = 10, burst: int = 1000, senders: int = 16, seed: int = 13, modes=("hub", "worker")
) -> list:
    results = [run_mode(mode, rounds, burst, senders, seed) for mode in modes]
    columns = [
        "mode",
        "kills",
        "hub starts",
        "acknowledged",
        "sent again",
        "stored",
        "lost",
        "duplicated",
        "s",
    ]
    print(
        table(
            f"Crash safety: SIGKILL mid-burst, {rounds} rounds of {burst} deliveries, {senders} senders",
            columns,
            [
                [
                    r["mode"],
                    r["kills"],
                    r["hub_starts"],
                    r["worker_restarts"],
                    r["acknowledged"],
                    r["resent"],
                    r["stored"],
                    r["lost"],
                    r["duplicated"],
                    r["seconds"],
                ]
                for r in results
            ],
        )
    )
    for r in results:
        print(f"{r['mode']}: {r['lost']} lost, {r['duplicated']} duplicated interactions")
    write_result("crash", {"results": results})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.crash", description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--mode", choices=["hub", "worker", "both"], default="both")
    args = parser.parse_args()
    modes = ("hub", "worker") if args.mode == "both" else (args.mode,)
    results = run(args.rounds, args.burst, args.senders, modes=modes)
    raise SystemExit(0 if all(r["lost"] == 0 and r["duplicated"] == 0 for r in results) else 1)


if __name__ == "__main__":
    main()
