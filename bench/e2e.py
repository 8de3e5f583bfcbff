"""3. End to end on the local hub over HTTP: `chorus serve` (SQLite store and queue file) with
the demo connectors as a subprocess on a free loopback port; an open-loop load generator
sends signed Typeform surveys at a fixed rate from a thread pool (bounded count), every
20th one twice (a provider retry). Reports sustained deliveries/s and ack latency, then
waits for the workers and counts the stored interactions: none lost, none duplicated."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .common import ROOT, percentile, table, write_result

P99_TARGET_MS = 50.0
DRAIN_CAP_SECONDS = 900
DEMO_SECRET = "demo-typeform-secret"  # the Makefile's TYPEFORM_SECRET default for connectors/
CONNECTOR = "typeform-nps"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def survey(n: int) -> bytes:
    data = json.loads((ROOT / "tests" / "fixtures" / "typeform" / "form_response.json").read_bytes())
    data["event_id"] = f"e2e-event-{n}"
    data["form_response"]["token"] = f"e2e-token-{n}"
    data["form_response"]["hidden"] = {}
    for answer in data["form_response"]["answers"]:
        if answer["type"] == "email":
            answer["email"] = f"load{n}@example.org"
    return json.dumps(data).encode()


def signed(body: bytes) -> dict[str, str]:
    digest = base64.b64encode(hmac.new(DEMO_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "Typeform-Signature": "sha256=" + digest}


def start_server(workdir: Path, port: int) -> subprocess.Popen:
    import requests

    chorus = Path(sys.executable).parent / "chorus"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "CHORUS_CONFIG_DIR"}
    env.update(
        {
            "TYPEFORM_SECRET": DEMO_SECRET,
            "X_CONSUMER_SECRET": "demo-x-consumer-secret",
            "HUBSPOT_CLIENT_SECRET": "demo-hubspot-client-secret",
            "HUBSPOT_ACCESS_TOKEN": "demo-hubspot-access-token",
            "CHORUS_ADMIN_TOKEN": "demo-admin-token",
            "CHORUS_LOG_LEVEL": "WARNING",
        }
    )
    log = (workdir / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(chorus), "serve", "--config-dir", str(ROOT / "connectors"), "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except requests.RequestException:  # not listening yet, or slow to answer on a busy machine
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("chorus serve did not start:\n" + (workdir / "serve.log").read_text()[-2000:])


def stored_interactions(workdir: Path) -> list[str]:
    """Interaction ids of the connector, read straight from the hub's SQLite store, page by page."""
    from chalicelib.store.local import open_local_storage

    store = open_local_storage(workdir / ".chorus").store
    ids: list[str] = []
    cursor = None
    while True:
        items, cursor = store.connector_interactions_page(CONNECTOR, 500, cursor)
        ids += [i.interaction_id for i in items]
        if not cursor:
            return ids


def run(
    rate: float = 200.0, seconds: float = 10.0, threads: int = 32, drain_seconds: float = 180.0
) -> dict[str, Any]:
    import requests

    from chalicelib.providers.base import interaction_id

    count = int(rate * seconds)
    plan = [(i, i) for i in range(count)]
    plan += [(count + k, i) for k, i in enumerate(range(0, count, 20))]  # retries of every 20th
    plan.sort(key=lambda p: p[0])
    bodies = {n: survey(n) for n in range(count)}
    with tempfile.TemporaryDirectory(prefix="chorus-e2e-") as tmp:
        workdir, port = Path(tmp), free_port()
        proc = start_server(workdir, port)
        url = f"http://127.0.0.1:{port}/webhooks/{CONNECTOR}"
        local = threading.local()
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        interval = seconds / len(plan)
        try:
            start = time.perf_counter() + 0.5

            def send(slot: int, n: int) -> None:
                session = getattr(local, "session", None) or requests.Session()
                local.session = session
                delay = start + slot * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sent = time.perf_counter()
                try:
                    status = session.post(
                        url, data=bodies[n], headers=signed(bodies[n]), timeout=10
                    ).status_code
                except requests.RequestException:
                    status = 0
                took = time.perf_counter() - sent
                with lock:
                    latencies.append(took)
                    statuses[status] = statuses.get(status, 0) + 1

            with ThreadPoolExecutor(max_workers=threads) as pool:
                for slot, n in plan:
                    pool.submit(send, slot, n)
            elapsed = time.perf_counter() - start
            expected = {interaction_id(CONNECTOR, f"e2e-token-{n}") for n in range(count)}
            # wait while the workers make progress: up to drain_seconds, or longer (to a hard
            # cap) as long as the count of stored interactions still grew in the last 15 s
            started_drain, stored, progress = time.time(), [], []
            while True:
                stored = stored_interactions(workdir)
                progress.append(len(set(stored)))
                if len(set(stored)) >= len(expected):
                    time.sleep(2)  # let a late duplicate show itself
                    stored = stored_interactions(workdir)
                    break
                waited = time.time() - started_drain
                moving = len(progress) > 15 and progress[-1] > progress[-16]
                if waited > DRAIN_CAP_SECONDS or (waited > drain_seconds and not moving):
                    break
                time.sleep(1)
            drained = time.perf_counter() - start
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log_text = (workdir / "serve.log").read_text()
    # after the drain window, what is missing is "not yet processed" while the workers still
    # had messages in flight; it is counted as lost only if the queues were idle (nothing moved
    # in the last 10 s of the window)
    lost = len(expected - set(stored))
    duplicated = len(stored) - len(set(stored))
    unexpected = len(set(stored) - expected)
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    ok_acks = statuses.get(200, 0)
    sustained = ok_acks / elapsed
    still_moving = len(progress) > 10 and progress[-1] > progress[-11]
    pending, lost = (lost, 0) if still_moving else (0, lost)
    met = (
        pending == 0
        and p99 < P99_TARGET_MS
        and lost == 0
        and duplicated == 0
        and unexpected == 0
        and ok_acks == len(plan)
    )
    print(
        table(
            f"End to end over HTTP: chorus serve (SQLite store and queue file), {rate:.0f}/s offered for "
            f"{seconds:.0f} s, {threads} sender threads, loopback",
            [
                "deliveries sent",
                "of which retries",
                "2xx",
                "sustained/s",
                "p50 ack ms",
                "p99 ack ms",
                "stored",
                "lost",
                "not yet processed",
                "duplicated",
                "drain s",
            ],
            [
                [
                    len(plan),
                    len(plan) - count,
                    ok_acks,
                    round(sustained, 1),
                    round(p50, 1),
                    round(p99, 1),
                    len(set(stored)),
                    lost,
                    pending,
                    duplicated,
                    round(drained, 1),
                ]
            ],
        )
    )
    print(
        f"statuses: {statuses}; target: p99 ack < {P99_TARGET_MS:.0f} ms at {rate:.0f}/s, zero lost, "
        f"zero duplicated: {'met' if met else 'NOT met'}"
    )
    path = write_result(
        "e2e",
        {
            "offered_rate": rate,
            "seconds": seconds,
            "threads": threads,
            "sent": len(plan),
            "retries": len(plan) - count,
            "statuses": statuses,
            "sustained_per_s": sustained,
            "p50_ms": p50,
            "p99_ms": p99,
            "max_ms": max(latencies) * 1000,
            "stored": len(set(stored)),
            "lost": lost,
            "not_yet_processed": pending,
            "duplicated": duplicated,
            "unexpected": unexpected,
            "processed_after_s": drained,
            "tracebacks_in_log": log_text.count("Traceback"),
            "meets_target": met,
        },
    )
    return {"p99_ms": p99, "lost": lost, "duplicated": duplicated, "path": str(path)}
