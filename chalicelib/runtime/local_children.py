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


def serve_store(stopped: threading.Event) -> None:
    """DynamoDB and S3 on a free loopback port (moto's server without its access log)."""
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
        0,
        DomainDispatcherApplication(create_backend_app),
        threaded=True,
        request_handler=NoDelayHandler,
    )
    threading.Thread(target=server.serve_forever, name="store", daemon=True).start()
    print(f"ready http://127.0.0.1:{server.server_address[1]}", flush=True)
    while not stopped.wait(0.5):
        pass
    server.shutdown()


def run_workers(stopped: threading.Event, endpoint: str, queue_file: str, config_dir: str) -> None:
    """The four queue pollers and the decay timer, on a Hub of this process's own."""
    from .aws import get_hub
    from .local import LOCAL_INGEST_POLLERS, DecayTimer, local_environment, local_queues, make_pollers
    from .resources import ResourceNames

    local_environment(endpoint, config_dir, queue_file)
    hub = get_hub()
    names = ResourceNames.from_env()
    pollers = make_pollers(hub, local_queues(names), names, LOCAL_INGEST_POLLERS)
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
    parser.add_argument("--queue-file")
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
        run_workers(stopped, args.endpoint, args.queue_file, args.config_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
