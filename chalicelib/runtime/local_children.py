"""The local hub's child processes: the embedded stores (moto servers) and the queue workers.

`chorus serve` keeps only the HTTP server in its own process so that a webhook's ack never
waits for the GIL behind a worker enriching text or behind the store answering the
workers. Each child is `python -m chalicelib.runtime.local_children <role> --parent <pid>`,
prints one line `ready <detail>` on stdout when it can be used, and exits on SIGTERM/SIGINT
or as soon as its parent is gone (a watchdog; the hub never leaves orphans behind).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

log = logging.getLogger("chorus_hub.local")


def watch_parent(parent_pid: int, stopped: threading.Event) -> None:
    """Exit (hard) once the parent process is gone: re-parenting changes getppid()."""
    def watch() -> None:
        while not stopped.wait(0.5):
            if os.getppid() != parent_pid:
                os._exit(0)
    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _stop_on_signals(stopped: threading.Event) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())


def speed_up_moto_sqs() -> None:
    """moto's SQS is O(queue length) per call with a heavy constant: every send and receive
    recomputes the queue's approximate counts, reading the clock through datetime arithmetic
    (~6 us) for every message, several times per call; with a backlog of 2,000 messages a
    receive took ~300 ms and a send ~30 ms, holding the GIL of the store process. Here the
    clock is time.time() (the same value) and the three approximate counts are taken in one
    pass and kept for 50 ms (SQS documents them as approximate). Written against moto 5.2
    (pinned in requirements-dev.txt); with other internals it does nothing and moto runs as is."""
    from moto.sqs import models

    needed = ("unix_time", "unix_time_millis", "Queue")
    if not all(hasattr(models, name) for name in needed) or not all(
            hasattr(models.Queue, p) for p in ("approximate_number_of_messages",
                                               "approximate_number_of_messages_not_visible",
                                               "approximate_number_of_messages_delayed")):
        log.warning("moto internals differ from 5.2: the local store runs without the SQS speed-up")
        return

    unix_time, unix_time_millis = models.unix_time, models.unix_time_millis
    models.unix_time = lambda dt=None: time.time() if dt is None else unix_time(dt)
    models.unix_time_millis = lambda dt=None: time.time() * 1000.0 if dt is None else unix_time_millis(dt)

    def counts(queue: Any) -> tuple[int, int, int]:
        cached = queue.__dict__.get("_chorus_counts")
        if cached is not None and time.monotonic() - cached[0] < 0.05:
            return cached[1]
        now_ms = time.time() * 1000.0
        available = not_visible = delayed = 0
        for message in queue._messages:
            is_visible, is_delayed = now_ms > message.visible_at, now_ms < message.delayed_until
            available += is_visible and not is_delayed
            not_visible += not is_visible
            delayed += is_delayed
        result = (available, not_visible, delayed)
        queue.__dict__["_chorus_counts"] = (time.monotonic(), result)
        return result

    models.Queue.approximate_number_of_messages = property(lambda q: counts(q)[0])
    models.Queue.approximate_number_of_messages_not_visible = property(lambda q: counts(q)[1])
    models.Queue.approximate_number_of_messages_delayed = property(lambda q: counts(q)[2])


def serve_store(stopped: threading.Event) -> None:
    """DynamoDB, SQS and S3 on a free loopback port (moto's server without its access log)."""
    from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                               create_backend_app)
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    speed_up_moto_sqs()
    server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=True,
                         request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, name="store", daemon=True).start()
    print(f"ready http://127.0.0.1:{server.server_address[1]}", flush=True)
    while not stopped.wait(0.5):
        pass
    server.shutdown()


def run_workers(stopped: threading.Event, endpoint: str, queue_endpoint: str, config_dir: str) -> None:
    """The four queue pollers and the decay timer, on a Hub of this process's own."""
    import boto3

    from .aws import get_hub
    from .local import DecayTimer, local_environment, make_pollers
    from .resources import ResourceNames

    local_environment(endpoint, config_dir, queue_endpoint)
    hub = get_hub()
    pollers = make_pollers(hub, boto3.client("sqs"), ResourceNames.from_env())
    for poller in pollers:
        poller.start()
    timer = None
    if DecayTimer.interval_from_env() > 0:
        timer = DecayTimer(hub, DecayTimer.interval_from_env())
        timer.start()
    print("ready", flush=True)
    while not stopped.wait(0.5):
        pass
    for poller in pollers:
        poller.stop()
    if timer is not None:
        timer.stop()
    deadline = time.monotonic() + 5  # let a batch in hand finish; what is left stays on its queue
    for poller in pollers:
        poller.join(max(0.0, deadline - time.monotonic()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.runtime.local_children")
    parser.add_argument("role", choices=["store", "workers"])
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority by this much")
    parser.add_argument("--endpoint")
    parser.add_argument("--queue-endpoint")
    parser.add_argument("--config-dir")
    args = parser.parse_args(argv)
    if args.nice:
        try:
            os.nice(args.nice)
        except OSError:
            pass
    logging.basicConfig(level=logging.WARNING)
    stopped = threading.Event()
    _stop_on_signals(stopped)
    watch_parent(args.parent, stopped)
    if args.role == "store":
        serve_store(stopped)
    else:
        run_workers(stopped, args.endpoint, args.queue_endpoint, args.config_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
