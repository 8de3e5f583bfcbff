"""The local hub: the same app and pipeline on one machine, no AWS account, no Docker.

Embedded moto servers (child processes) stand in for DynamoDB, SQS and S3; boto3
reaches them over HTTP through AWS_ENDPOINT_URL(_SQS/_S3), the same code path as on AWS. Queue
pollers (in a second child process) feed the very handlers Lambda would run, with the
same partial-failure contract: failed messages stay on the queue, come back after the
visibility timeout, and after five receives land in the dead-letter queue and from there
in the dead-letter store. The parent process serves HTTP only.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from .resources import ResourceNames, create_resources

log = logging.getLogger("chorus_hub.local")
LOCAL_VISIBILITY_SECONDS = 5
# The workers and their store run at a lower CPU priority than the HTTP server and the queue
# it writes to: with a backlog they take the idle CPU, never a waiting provider's.
WORKER_NICENESS = 10
STATE_FILE = Path(".chorus") / "local.json"


class QueuePoller(threading.Thread):
    """Receives from one SQS queue and hands batches to a Lambda-shaped handler."""

    def __init__(self, sqs: Any, queue_url: str, handle: Callable[[list[dict]], dict], name: str):
        super().__init__(name=f"poller-{name}", daemon=True)
        self._sqs, self._url, self._handle = sqs, queue_url, handle
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception as exc:  # keep the local hub alive; the message stays on its queue
                log.warning("poller error", extra={"queue": self.name, "error": type(exc).__name__})
                self._halt.wait(1)

    def poll_once(self, wait_seconds: int = 0) -> int:
        reply = self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10,
                                          WaitTimeSeconds=wait_seconds, AttributeNames=["All"])
        messages = reply.get("Messages", [])
        if not messages:
            return 0
        records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                    "attributes": m.get("Attributes", {}), "eventSource": "aws:sqs"} for m in messages]
        failed = {f["itemIdentifier"] for f in self._handle(records).get("batchItemFailures", [])}
        done = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages) if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(QueueUrl=self._url, Entries=done)
        return len(messages)

    def stop(self) -> None:
        self._halt.set()


class DecayTimer(threading.Thread):
    """The local stand-in for the `decay_scores` schedule: runs a decay pass every
    CHORUS_DECAY_INTERVAL_SECONDS (default 3600; 0 turns it off)."""

    def __init__(self, hub: Any, interval_seconds: float):
        super().__init__(name="decay-timer", daemon=True)
        self._hub, self._interval = hub, interval_seconds
        self._halt = threading.Event()

    @staticmethod
    def interval_from_env() -> float:
        return float(os.environ.get("CHORUS_DECAY_INTERVAL_SECONDS", "3600"))

    def run(self) -> None:
        from ..pipeline.decay import decay_due_people

        while not self._halt.wait(self._interval):
            try:
                decay_due_people(self._hub)
            except Exception as exc:  # keep the local hub alive; the next tick tries again
                log.warning("decay run failed", extra={"error": type(exc).__name__})

    def stop(self) -> None:
        self._halt.set()


def local_environment(endpoint: str, config_dir: str, queue_endpoint: str | None = None) -> None:
    """Point boto3 at the embedded servers with throwaway credentials: `endpoint` for the
    store (DynamoDB), `queue_endpoint` (when given) for SQS and S3."""
    if queue_endpoint:
        os.environ.update({"AWS_ENDPOINT_URL_SQS": queue_endpoint, "AWS_ENDPOINT_URL_S3": queue_endpoint})
    os.environ.update({
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled", "CHORUS_CONFIG_DIR": str(Path(config_dir).resolve()),
    })


def make_pollers(hub: Any, sqs: Any, names: ResourceNames) -> list[QueuePoller]:
    from .batch import handle_dead_letter_batch, handle_ingest_batch, handle_sync_batch

    def url(name: str) -> str:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]

    return [
        QueuePoller(sqs, url(names.ingest_queue), lambda r: handle_ingest_batch(hub, r), "ingest"),
        QueuePoller(sqs, url(names.sync_queue), lambda r: handle_sync_batch(hub, r), "sync"),
        QueuePoller(sqs, url(names.ingest_dlq), lambda r: handle_dead_letter_batch(hub, "ingest", r), "ingest-dlq"),
        QueuePoller(sqs, url(names.sync_dlq), lambda r: handle_dead_letter_batch(hub, "sync", r), "sync-dlq"),
    ]


class LocalHub:
    """Start with `start()`, serve with `serve_forever()`, stop with `stop()`.

    Three processes: this one serves HTTP only; the embedded store and the queue workers
    are child processes (see local_children.py) that exit with it."""

    def __init__(self, config_dir: str, host: str = "127.0.0.1", port: int = 8000):
        self.config_dir, self.host, self.port = config_dir, host, port
        self._server = None
        self._serving = False
        self._children: list[subprocess.Popen] = []

    def _spawn(self, *args: str) -> tuple[subprocess.Popen, str]:
        """Start a child and wait for its `ready` line; returns the child and the line's detail."""
        child = subprocess.Popen([sys.executable, "-m", "chalicelib.runtime.local_children", *args,
                                  "--parent", str(os.getpid())], stdout=subprocess.PIPE, text=True)
        self._children.append(child)
        line = child.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"local hub: {args[0]} process did not start (exit {child.poll()})")
        return child, line[len("ready"):].strip()

    def start(self) -> None:
        from ..config.loader import load_directory
        load_directory(self.config_dir)  # fail fast, with every problem listed, before starting anything

        # two moto servers: the queues (and blobs) a webhook's ack writes to, at normal priority,
        # and the table the workers read and write ~20 times per interaction, at the workers'
        # lower priority; so the ack path never waits behind the workers' store traffic
        _, queue_endpoint = self._spawn("store")
        _, endpoint = self._spawn("store", "--nice", str(WORKER_NICENESS))
        local_environment(endpoint, self.config_dir, queue_endpoint)

        import boto3

        from .aws import get_hub, reset_hub
        names = ResourceNames.from_env()
        create_resources(boto3.client("dynamodb"), boto3.client("sqs"), boto3.client("s3"), names,
                         visibility_seconds=LOCAL_VISIBILITY_SECONDS)
        reset_hub()
        get_hub()  # built now, not on the first delivery
        self._spawn("workers", "--nice", str(WORKER_NICENESS), "--endpoint", endpoint,
                    "--queue-endpoint", queue_endpoint, "--config-dir", os.environ["CHORUS_CONFIG_DIR"])

        from chalice.config import Config
        from chalice.local import create_local_server

        import app as chalice_app
        self._server = create_local_server(chalice_app.app, Config.create(app_name="chorus"), self.host, self.port)
        self.port = self._server.server.server_address[1]
        STATE_FILE.parent.mkdir(exist_ok=True)
        STATE_FILE.write_text(json.dumps({"endpoint": endpoint, "queue_endpoint": queue_endpoint, "url": f"http://{self.host}:{self.port}",
                                          "pid": os.getpid(), "config_dir": str(Path(self.config_dir).resolve())}))

    def serve_forever(self) -> None:
        print(f"Chorus hub on http://{self.host}:{self.port}  (embedded store and queues; Ctrl-C stops)",
              flush=True)
        self._serving = True
        try:
            self._server.server.serve_forever()
        finally:
            self._serving = False

    def stop(self) -> None:
        if self._server is not None:
            if self._serving:
                self._server.server.shutdown()  # blocks unless serve_forever is running
            self._server.server.server_close()
        for child in reversed(self._children):  # workers first, then the store they use
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        self._children = []
