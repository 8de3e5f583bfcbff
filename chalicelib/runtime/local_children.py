"""The local hub's child process: the queue workers and the schedule runner.

`chorus serve` keeps only the HTTP server in its own process so that a webhook's ack never
waits for the GIL behind a worker enriching text. Each child is
`python -m chalicelib.runtime.local_children <role> --parent <pid>`; it prints one line `ready <detail>` on stdout when it can be used, then `beat` every second while
all its threads are alive (the supervisor's liveness check, local_supervisor.py), and exits on
SIGTERM/SIGINT or as soon as its parent is gone (a watchdog; the hub never leaves orphans behind).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

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


def beat_while(stopped: threading.Event, threads: list[threading.Thread]) -> None:
    """Print `beat` every HEARTBEAT_SECONDS while every thread in `threads` is alive; return when
    stopped, or when one has died (the child then exits and the supervisor restarts it)."""
    from .local_supervisor import HEARTBEAT_SECONDS

    while not stopped.wait(HEARTBEAT_SECONDS):
        dead = [t.name for t in threads if not t.is_alive()]
        if dead:
            log.warning("worker thread died", extra={"threads": dead})
            return
        print("beat", flush=True)


def run_workers(
    stopped: threading.Event, config_dir: str, state_dir: str, store: str, queues_only: bool = False
) -> None:
    """The queue pollers, and (unless `queues_only`: a second worker process on a machine with
    more cores) the inbox mover and the schedule runner, on a Hub of this process's own."""
    from .local import (
        LOCAL_BATCH_SIZE,
        LOCAL_INGEST_POLLERS,
        QUEUE_FILE_NAME,
        LocalWiring,
        build_local_hub,
        local_queues,
        make_pollers,
    )
    from .local_inbox import InboxMover
    from .local_schedule import ScheduleRunner
    from .resources import ResourceNames

    hub = build_local_hub(LocalWiring.of(config_dir, state_dir, store))
    names = ResourceNames.from_env()
    queues = local_queues(names, Path(state_dir) / QUEUE_FILE_NAME)
    pollers = make_pollers(hub, queues, names, LOCAL_INGEST_POLLERS, LOCAL_BATCH_SIZE)
    others: list = []
    if not queues_only:  # one process moves what the HTTP process acked and runs the jobs
        others = [
            InboxMover(state_dir, Path(state_dir) / QUEUE_FILE_NAME),
            ScheduleRunner(hub, state_dir),
        ]
    threads: list[threading.Thread] = [*others, *pollers]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    beat_while(stopped, threads)
    for thread in [*pollers, *others]:
        thread.stop()
    deadline = time.monotonic() + 5  # let a batch in hand finish; what is left stays on its queue
    for poller in pollers:
        poller.join(max(0.0, deadline - time.monotonic()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.runtime.local_children")
    parser.add_argument(
        "role",
        choices=["workers", "queue-workers"],
        help="workers: queues, inbox and jobs; queue-workers: the queues only (extra processes)",
    )
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority by this much")
    parser.add_argument("--config-dir", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--store", default="sqlite")
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
    run_workers(
        stopped, args.config_dir, args.state_dir, args.store, queues_only=args.role == "queue-workers"
    )
    return 0 if stopped.is_set() else 1  # a thread died: exit, and the supervisor starts a new one


if __name__ == "__main__":
    sys.exit(main())
