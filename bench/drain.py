"""Drain: the whole pipeline on one machine, per store. Signed Typeform surveys (a new person
each) go in through the app's webhook route (Chalice's in-process HTTP test client: the route,
signature check and queue write of a real delivery, without a socket), onto the local queue
file; then the workers' handlers drain it: parse, de-duplicate, resolve identity, enrich,
score, store, sync to the demo file sink. Prints interactions/s for the SQLite store and for
the DynamoDB store (in-process moto, the only DynamoDB here), and checks every interaction
reached the sink once.

    python -m bench drain [--count N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import ROOT, table, write_result
from .e2e import DEMO_SECRET, signed, survey

TARGET_PER_SECOND = 1000.0
WARM_UP = 20
DEMO_ENV = {
    "TYPEFORM_SECRET": DEMO_SECRET,
    "X_CONSUMER_SECRET": "demo-x-consumer-secret",
    "HUBSPOT_CLIENT_SECRET": "demo-hubspot-client-secret",
    "HUBSPOT_ACCESS_TOKEN": "demo-hubspot-access-token",
    "CHORUS_ADMIN_TOKEN": "demo-admin-token",
    "CHORUS_LOG_LEVEL": "WARNING",
    "CHORUS_CONFIG_DIR": str(ROOT / "connectors"),
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "POWERTOOLS_SERVICE_NAME": "chorus",
}


def _hub(kind: str, state: Path) -> Any:
    """The hub the local runtime builds: this store, file blobs, the queue file."""
    from chalicelib.config.loader import load_connectors
    from chalicelib.hub import Hub
    from chalicelib.runtime.local_queue import LocalQueue
    from chalicelib.runtime.resources import MAX_RECEIVE_COUNT, ResourceNames
    from chalicelib.store.local import open_local_storage

    names = ResourceNames.from_env()
    path = state / "queues.sqlite3"
    queues = {
        names.ingest_queue: LocalQueue(
            path, names.ingest_queue, dead_letter=names.ingest_dlq, max_receives=MAX_RECEIVE_COUNT
        ),
        names.sync_queue: LocalQueue(
            path, names.sync_queue, dead_letter=names.sync_dlq, max_receives=MAX_RECEIVE_COUNT
        ),
        names.ingest_dlq: LocalQueue(path, names.ingest_dlq),
        names.sync_dlq: LocalQueue(path, names.sync_dlq),
    }
    storage = open_local_storage(state, kind)
    hub = Hub(
        connectors=load_connectors(),
        store=storage.store,
        blobs=storage.blobs,
        ingest_queue=queues[names.ingest_queue],
        sync_queue=queues[names.sync_queue],
    )
    return hub, queues, names


def _drain(hub: Any, queues: dict[str, Any], names: Any) -> int:
    """Poll every queue until all are empty (what the hub's workers do, here on one thread)."""
    from chalicelib.runtime.local import LOCAL_BATCH_SIZE, make_pollers

    pollers = make_pollers(hub, queues, names, batch_size=LOCAL_BATCH_SIZE)
    handled = 0
    while True:
        done = sum(p.poll_once() for p in pollers)
        handled += done
        if done == 0:
            return handled


def _drain_in_processes(kind: str, state: Path, processes: int) -> float:
    """Wall seconds for `processes` forked workers, each on its own hub over the same files, to
    drain the queues (what the local hub's worker processes do)."""
    import multiprocessing

    def work() -> None:
        hub, queues, names = _hub(kind, state)
        idle = 0
        while idle < 3:  # empty three times in a row: the others' work in hand is theirs to finish
            idle = idle + 1 if _drain(hub, queues, names) == 0 else 0

    ctx = multiprocessing.get_context("fork")
    started = time.perf_counter()
    children = [ctx.Process(target=work) for _ in range(processes)]
    for child in children:
        child.start()
    for child in children:
        child.join()
    return time.perf_counter() - started


def run_one(kind: str, count: int, profile: bool = False, processes: int = 1) -> dict[str, Any]:
    from chalice.test import Client

    import app as chalice_app
    from chalicelib.runtime import aws as runtime_aws

    state = Path(tempfile.mkdtemp(prefix=f"chorus-drain-{kind}-")) / ".chorus"
    state.mkdir()
    os.chdir(state.parent)  # the file sink writes .chorus/crm-sync.jsonl
    hub, queues, names = _hub(kind, state)
    runtime_aws._hub = hub  # the app's routes use this hub
    warm = [survey(-n) for n in range(1, WARM_UP + 1)]  # first use loads models and modules
    bodies = [survey(n) for n in range(count)]
    with Client(chalice_app.app) as client:
        for body in warm:
            client.http.post("/webhooks/typeform-nps", body=body, headers=signed(body))
        _drain(hub, queues, names)
        started, cpu = time.perf_counter(), time.process_time()
        for body in bodies:
            reply = client.http.post("/webhooks/typeform-nps", body=body, headers=signed(body))
            assert reply.status_code == 200, reply.body
        acked, acked_cpu = time.perf_counter() - started, time.process_time() - cpu
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if processes > 1:
        drained, drained_cpu = _drain_in_processes(kind, state, processes), None
    else:
        if profiler:
            profiler.enable()
        _drain(hub, queues, names)
        if profiler:
            profiler.disable()
        drained, drained_cpu = time.perf_counter() - started, time.process_time() - cpu
    synced = [json.loads(line) for line in (state / "crm-sync.jsonl").read_text().splitlines()]
    emails = {record.get("properties", {}).get("email") for record in synced}
    stored = len(hub.store.connector_interactions("typeform-nps", count + WARM_UP + 10)) - WARM_UP
    result = {
        "store": kind if processes == 1 else f"{kind}, {processes} worker processes",
        "deliveries": count,
        "ack_per_second": count / acked,
        "drain_per_second": count / drained,
        "whole_per_second": count / (acked + drained),
        "stored": stored,
        "synced_people": len(emails - {None}) - WARM_UP,
        "ack_cpu_ms": 1000 * acked_cpu / count,
        "drain_cpu_ms": None if drained_cpu is None else 1000 * drained_cpu / count,
        "load_average": os.getloadavg()[0],
    }
    if profiler:
        result["profile"] = _profile_summary(profiler)
    runtime_aws.reset_hub()
    return result


def _profile_summary(profiler: cProfile.Profile, top: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def run(count: int = 2000, profile: bool = False) -> dict[str, Any]:
    os.environ.update(DEMO_ENV)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    results = [run_one("sqlite", count, profile), run_one("sqlite", count, processes=2)]
    from moto import mock_aws

    with mock_aws():
        results.append(run_one("dynamodb", count // 4 or 1, profile))
    rows = [
        [
            r["store"],
            r["deliveries"],
            round(r["ack_per_second"]),
            round(r["drain_per_second"]),
            round(r["whole_per_second"]),
            f"{r['stored']}/{r['synced_people']}",
            round(r["ack_cpu_ms"], 3),
            "-" if r["drain_cpu_ms"] is None else round(r["drain_cpu_ms"], 3),
            "-" if r["drain_cpu_ms"] is None else round(1000 / (r["ack_cpu_ms"] + r["drain_cpu_ms"])),
            round(r["load_average"], 1),
        ]
        for r in results
    ]
    print(
        table(
            f"Drain through the whole pipeline, one process (target >= {TARGET_PER_SECOND:.0f}/s on SQLite)",
            [
                "store",
                "deliveries",
                "acks/s",
                "drain/s",
                "in+drain/s",
                "stored/synced",
                "ack CPU ms",
                "drain CPU ms",
                "per CPU-second",
                "load",
            ],
            rows,
        )
    )
    for r in results:
        if "profile" in r:
            print(f"\n## cProfile of the {r['store']} drain (by own time)\n{r['profile']}")
    write_result("drain", {"results": [{k: v for k, v in r.items() if k != "profile"} for r in results]})
    return {"results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drain")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    run(args.count, args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
