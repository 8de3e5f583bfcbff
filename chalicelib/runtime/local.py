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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .resources import MAX_RECEIVE_COUNT, ResourceNames, create_resources

log = logging.getLogger("chorus_hub.local")
LOCAL_VISIBILITY_SECONDS = 5
# Two ingest pollers drain a backlog ~2x faster than one; deliveries they process at the same
# moment resolve identities as if one after the other (pipeline/identity.py, moto_patches.py).
LOCAL_INGEST_POLLERS = 2
# The workers and their store run at a lower CPU priority than the HTTP server and the queue
# it writes to: with a backlog they take the idle CPU, never a waiting provider's.
WORKER_NICENESS = 10
STATE_FILE = Path(".chorus") / "local.json"
QUEUE_FILE = Path(".chorus") / "queues.sqlite3"
QUEUE_FILE_ENV = "CHORUS_LOCAL_QUEUE_FILE"


class SqsConsumer:
    """Receive and delete on an SQS queue: what a Lambda event source mapping does, for the
    tests' in-process workers (moto) and anything else that polls real SQS."""

    def __init__(self, sqs: Any, queue_url: str):
        self._sqs, self._url = sqs, queue_url

    def receive(self, max_messages: int = 10, wait_seconds: float = 0) -> list[dict]:
        reply = self._sqs.receive_message(
            QueueUrl=self._url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=int(wait_seconds),
            AttributeNames=["All"],
        )
        return [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "eventSource": "aws:sqs",
            }
            for m in reply.get("Messages", [])
        ]

    def delete(self, receipt_handles: list[str]) -> None:
        for start in range(0, len(receipt_handles), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h}
                    for i, h in enumerate(receipt_handles[start : start + 10])
                ],
            )


class QueuePoller(threading.Thread):
    """Receives from one queue and hands batches to a Lambda-shaped handler; deletes what
    the handler did not report as failed (SQS's ReportBatchItemFailures contract)."""

    def __init__(self, consumer: Any, handle: Callable[[list[dict]], dict], name: str):
        super().__init__(name=f"poller-{name}", daemon=True)
        self.consumer, self._handle = consumer, handle
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception as exc:  # keep the local hub alive; the message stays on its queue
                log.warning("poller error", extra={"queue": self.name, "error": type(exc).__name__})
                self._halt.wait(1)

    def poll_once(self, wait_seconds: float = 0) -> int:
        records = self.consumer.receive(10, wait_seconds)
        if not records:
            return 0
        failed = {f["itemIdentifier"] for f in self._handle(records).get("batchItemFailures", [])}
        done = [r["receiptHandle"] for r in records if r["messageId"] not in failed]
        if done:
            self.consumer.delete(done)
        return len(records)

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


def local_environment(endpoint: str, config_dir: str, queue_file: str | None = None) -> None:
    """Point boto3 at the embedded store (DynamoDB and S3) with throwaway credentials, and make
    this process's Hub use the local queue file (when given) in place of SQS."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "CHORUS_CONFIG_DIR": str(Path(config_dir).resolve()),
        }
    )
    if queue_file:
        from .aws import use_hub_factory

        os.environ[QUEUE_FILE_ENV] = str(Path(queue_file).resolve())
        use_hub_factory(build_local_hub)


def local_queues(names: ResourceNames, path: str | None = None) -> dict[str, Any]:
    """The four queues in the local queue file, by name; the two work queues redrive to their
    dead-letter queues after MAX_RECEIVE_COUNT receives, as the SQS redrive policy does."""
    from .local_queue import LocalQueue

    path = path or os.environ[QUEUE_FILE_ENV]
    queues = {}
    for queue, dlq in ((names.ingest_queue, names.ingest_dlq), (names.sync_queue, names.sync_dlq)):
        queues[queue] = LocalQueue(
            path,
            queue,
            dead_letter=dlq,
            max_receives=MAX_RECEIVE_COUNT,
            visibility_seconds=LOCAL_VISIBILITY_SECONDS,
        )
        queues[dlq] = LocalQueue(path, dlq, visibility_seconds=LOCAL_VISIBILITY_SECONDS)
    return queues


def fresh_queue_file() -> str:
    """An empty queue file for a new run: the embedded store starts empty too."""
    QUEUE_FILE.parent.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{QUEUE_FILE}{suffix}").unlink(missing_ok=True)
    return str(QUEUE_FILE.resolve())


def build_local_hub() -> Any:
    """The Hub of runtime.aws (boto3 store and blobs, pointed at the embedded server) with the
    local queue file in place of SQS."""
    import dataclasses

    from .aws import build_hub

    names = ResourceNames.from_env()
    queues = local_queues(names)
    return dataclasses.replace(
        build_hub(), ingest_queue=queues[names.ingest_queue], sync_queue=queues[names.sync_queue]
    )


def make_pollers(
    hub: Any, consumers: Mapping[str, Any], names: ResourceNames, ingest_pollers: int = 1
) -> list[QueuePoller]:
    """The pollers, each on the consumer (SqsConsumer or LocalQueue) of its queue name; the
    ingest queue may have several, as a Lambda has several concurrent invocations."""
    from .batch import handle_dead_letter_batch, handle_ingest_batch, handle_sync_batch

    return [
        *(
            QueuePoller(consumers[names.ingest_queue], lambda r: handle_ingest_batch(hub, r), f"ingest-{n}")
            for n in range(ingest_pollers)
        ),
        QueuePoller(consumers[names.sync_queue], lambda r: handle_sync_batch(hub, r), "sync"),
        QueuePoller(
            consumers[names.ingest_dlq], lambda r: handle_dead_letter_batch(hub, "ingest", r), "ingest-dlq"
        ),
        QueuePoller(
            consumers[names.sync_dlq], lambda r: handle_dead_letter_batch(hub, "sync", r), "sync-dlq"
        ),
    ]


def sqs_consumers(sqs: Any, names: ResourceNames) -> dict[str, SqsConsumer]:
    names_list = (names.ingest_queue, names.sync_queue, names.ingest_dlq, names.sync_dlq)
    return {n: SqsConsumer(sqs, sqs.get_queue_url(QueueName=n)["QueueUrl"]) for n in names_list}


class LocalHub:
    """Start with `start()`, serve with `serve_forever()`, stop with `stop()`.

    Three processes: this one serves HTTP only; the embedded store and the queue workers
    are child processes (see local_children.py) that exit with it. The queues are one
    SQLite file (local_queue.py) shared by this process (sends) and the workers (receives)."""

    def __init__(self, config_dir: str, host: str = "127.0.0.1", port: int = 8000):
        self.config_dir, self.host, self.port = config_dir, host, port
        self._server = None
        self._serving = False
        self._children: list[subprocess.Popen] = []

    def _spawn(self, *args: str) -> tuple[subprocess.Popen, str]:
        """Start a child and wait for its `ready` line; returns the child and the line's detail."""
        child = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.runtime.local_children", *args, "--parent", str(os.getpid())],
            stdout=subprocess.PIPE,
            text=True,
        )
        self._children.append(child)
        line = child.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"local hub: {args[0]} process did not start (exit {child.poll()})")
        return child, line[len("ready") :].strip()

    def start(self) -> None:
        from ..config.loader import load_directory

        load_directory(self.config_dir)  # fail fast, with every problem listed, before starting anything

        # the store runs at the workers' lower priority: the ack path writes to the queue file
        # only, so a provider never waits behind the workers' ~20 store calls per interaction
        _, endpoint = self._spawn("store", "--nice", str(WORKER_NICENESS))
        queue_file = fresh_queue_file()
        local_environment(endpoint, self.config_dir, queue_file)

        import boto3

        from .aws import get_hub

        create_resources(boto3.client("dynamodb"), None, boto3.client("s3"), ResourceNames.from_env())
        get_hub()  # built now, not on the first delivery
        self._spawn(
            "workers",
            "--nice",
            str(WORKER_NICENESS),
            "--endpoint",
            endpoint,
            "--queue-file",
            queue_file,
            "--config-dir",
            os.environ["CHORUS_CONFIG_DIR"],
        )

        from chalice.config import Config

        import app as chalice_app

        from .local_http import create_server

        self._server = create_server(chalice_app.app, Config.create(app_name="chorus"), self.host, self.port)
        self.port = self._server.server.server_address[1]
        STATE_FILE.write_text(
            json.dumps(
                {
                    "endpoint": endpoint,
                    "queue_file": queue_file,
                    "url": f"http://{self.host}:{self.port}",
                    "pid": os.getpid(),
                    "config_dir": str(Path(self.config_dir).resolve()),
                }
            )
        )

    def serve_forever(self) -> None:
        print(
            f"Chorus hub on http://{self.host}:{self.port}  (embedded store and queues; Ctrl-C stops)",
            flush=True,
        )
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
