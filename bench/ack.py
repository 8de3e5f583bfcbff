"""Ack latency the way providers send: a new TCP connection per delivery, at a fixed offered rate.

`chorus serve` (demo connectors, SQLite store) runs as a subprocess on a free loopback port; an
open-loop generator sends signed Typeform surveys at `rate`/s for `seconds` from a thread pool,
each on a fresh http.client connection (connect, send, read the answer, close). The latency of a
delivery runs from its scheduled moment (so a generator that falls behind counts against the
hub, not for it) to the last byte of the answer. Target: p99 under 20 ms at 300/s offered."""

from __future__ import annotations

import http.client
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .common import percentile, table, write_result
from .e2e import free_port, signed, start_server, survey

P99_TARGET_MS = 20.0


def post_once(port: int, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/webhooks/typeform-nps", body=body, headers=signed(body))
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


def run(rate: float = 300.0, seconds: float = 10.0, threads: int = 32) -> dict[str, Any]:
    count = int(rate * seconds)
    bodies = [survey(900_000 + n) for n in range(count)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="chorus-ack-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        proc = start_server(workdir, port)
        try:
            for n in range(20):  # warm-up: imports and caches of the first deliveries
                post_once(port, survey(800_000 + n))
            start = time.perf_counter() + 0.5

            def send(n: int) -> None:
                due = start + n / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                try:
                    status = post_once(port, bodies[n])
                except OSError:
                    status = 0
                took = time.perf_counter() - due
                with lock:
                    latencies.append(took)
                    statuses[status] = statuses.get(status, 0) + 1

            with ThreadPoolExecutor(max_workers=threads) as pool:
                for n in range(count):
                    pool.submit(send, n)
            elapsed = time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    worst = max(latencies) * 1000
    slow = sum(1 for t in latencies if t * 1000 > P99_TARGET_MS)
    met = p99 < P99_TARGET_MS and statuses.get(200, 0) == count
    print(
        table(
            f"Ack latency, a new TCP connection per delivery: {rate:.0f}/s offered for {seconds:.0f} s, "
            f"{threads} sender threads, loopback",
            [
                "deliveries",
                "200",
                "achieved/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                f"> {P99_TARGET_MS:.0f} ms",
                "target",
            ],
            [
                [
                    count,
                    statuses.get(200, 0),
                    round(count / elapsed, 1),
                    round(p50, 2),
                    round(p99, 2),
                    round(worst, 1),
                    slow,
                    "met" if met else "NOT met",
                ]
            ],
        )
    )
    result = {
        "rate": rate,
        "seconds": seconds,
        "deliveries": count,
        "statuses": statuses,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": worst,
        "over_target": slow,
        "met": met,
    }
    write_result("ack", result)
    return result


if __name__ == "__main__":
    run()
