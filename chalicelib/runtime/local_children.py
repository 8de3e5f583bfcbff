"""The local hub's child processes: the embedded stores (moto servers) and the queue workers.

`chorus serve` keeps only the HTTP server in its own process so that a webhook's ack never
waits for the GIL behind a worker enriching text or behind the store answering the
workers. Each child is `python -m chalicelib.runtime.local_children <role> --parent <pid>`,
prints one line `ready <detail>` on stdout when it can be used, then `beat` every second while
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


def serve_store(stopped: threading.Event, port: int = 0) -> None:
    """DynamoDB and S3 on a loopback port (moto's server without its access log); port 0 picks a
    free one, a restart asks for the one it had."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from .moto_patches import isolate_moto_writes, speed_up_moto_dispatch, speed_up_moto_query

    class NoDelayHandler(MotoRequestHandler):
        # werkzeug writes headers and body separately: without TCP_NODELAY the body of every
        # answer can wait for the client's delayed ACK
        disable_nagle_algorithm = True

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    speed_up_moto_dispatch()
    speed_up_moto_query()
    isolate_moto_writes()
    server = make_server(
        "127.0.0.1",
        port,
        DomainDispatcherApplication(create_backend_app),
        threaded=True,
        request_handler=NoDelayHandler,
    )
    serving = threading.Thread(target=server.serve_forever, name="store", daemon=True)
    serving.start()
    print(f"ready http://127.0.0.1:{server.server_address[1]}", flush=True)
    beat_while(stopped, [serving])
    server.shutdown()


def run_workers(
    stopped: threading.Event, endpoint: str, queue_file: str, config_dir: str, state_dir: str
) -> None:
    """The four queue pollers and the schedule runner, on a Hub of this process's own."""
    from .aws import get_hub
    from .local import LOCAL_INGEST_POLLERS, local_environment, local_queues, make_pollers
    from .local_schedule import ScheduleRunner
    from .resources import ResourceNames

    local_environment(endpoint, config_dir, queue_file)
    hub = get_hub()
    names = ResourceNames.from_env()
    pollers = make_pollers(hub, local_queues(names), names, LOCAL_INGEST_POLLERS)
    schedule = ScheduleRunner(hub, state_dir)
    threads: list[threading.Thread] = [*pollers, schedule]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    beat_while(stopped, threads)
    for poller in pollers:
        poller.stop()
    schedule.stop()
    deadline = time.monotonic() + 5  # let a batch in hand finish; what is left stays on its queue
    for poller in pollers:
        poller.join(max(0.0, deadline - time.monotonic()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.runtime.local_children")
    parser.add_argument("role", choices=["store", "workers"])
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority by this much")
    parser.add_argument("--endpoint")
    parser.add_argument("--queue-file")
    parser.add_argument("--config-dir")
    parser.add_argument("--state-dir", default=".chorus")
    parser.add_argument("--port", type=int, default=0)
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
        serve_store(stopped, args.port)
    else:
        run_workers(stopped, args.endpoint, args.queue_file, args.config_dir, args.state_dir)
    return 0 if stopped.is_set() else 1  # a thread died: exit, and the supervisor starts a new one


if __name__ == "__main__":
    sys.exit(main())
