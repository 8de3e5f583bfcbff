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
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .local_lock import StateLock
from .local_supervisor import Supervisor
from .resources import MAX_RECEIVE_COUNT, ResourceNames, create_resources

log = logging.getLogger("chorus_hub.local")
LOCAL_VISIBILITY_SECONDS = 5
# Two ingest pollers drain a backlog ~2x faster than one; deliveries they process at the same
# moment resolve identities as if one after the other (pipeline/identity.py, moto_patches.py).
LOCAL_INGEST_POLLERS = 2
# The workers and their store run at a lower CPU priority than the HTTP server and the queue
# it writes to: with a backlog they take the idle CPU, never a waiting provider's.
WORKER_NICENESS = 10
DEFAULT_STATE_DIR = ".chorus"
STATE_DIR_ENV = "CHORUS_STATE_DIR"
STATE_FILE_NAME = "local.json"
QUEUE_FILE_NAME = "queues.sqlite3"
QUEUE_FILE_ENV = "CHORUS_LOCAL_QUEUE_FILE"
STORE_ARGS = ("--nice", str(WORKER_NICENESS))


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

    This process serves HTTP only; the embedded store and the queue workers are child processes
    (local_children.py) under a supervisor that restarts one that dies. Everything lives in the
    state directory, which one hub at a time holds (local_lock.py): the queue file (kept across
    restarts: what was acknowledged is processed after a crash), the schedule's last runs, the
    hub's address for the CLI (local.json)."""

    def __init__(
        self,
        config_dir: str,
        host: str = "127.0.0.1",
        port: int = 8000,
        state_dir: str | os.PathLike = DEFAULT_STATE_DIR,
    ):
        self.config_dir, self.host, self.port = config_dir, host, port
        self.state_dir = Path(state_dir).resolve()
        self.lock = StateLock(self.state_dir)
        self.supervisor = Supervisor()
        self._front: Any = None
        self._queues: dict[str, Any] = {}
        self._names = ResourceNames.from_env()

    def start(self) -> None:
        from ..config.loader import load_directory
        from ..config.secret_check import unresolved_secrets
        from ..errors import ConfigError

        self.lock.acquire()  # first: a second hub stops here, having touched nothing
        try:
            self._start(load_directory, unresolved_secrets, ConfigError)
        except BaseException:
            self.stop()
            raise

    def _start(self, load_directory: Any, unresolved_secrets: Any, config_error: Any) -> None:
        # fail fast, with every problem listed, before starting anything
        connectors = load_directory(self.config_dir)
        problems = unresolved_secrets(connectors)
        if problems:
            raise config_error(problems)
        queue_file = str(self.state_dir / QUEUE_FILE_NAME)
        config_dir = str(Path(self.config_dir).resolve())

        def store_ready(store: Any) -> None:
            import boto3

            local_environment(store.detail, config_dir)
            create_resources(boto3.client("dynamodb"), None, boto3.client("s3"), self._names)
            # a restarted store answers on the port it had, where every client already points
            store.args = [*STORE_ARGS, "--port", store.detail.rsplit(":", 1)[1]]

        # the store runs at the workers' lower priority: the ack path writes to the queue file
        # only, so a provider never waits behind the workers' ~20 store calls per interaction
        store = self.supervisor.start("store", list(STORE_ARGS), on_ready=store_ready)
        endpoint = store.detail
        local_environment(endpoint, config_dir, queue_file)
        from .aws import get_hub

        get_hub()  # built now, not on the first delivery
        self._queues = local_queues(self._names, queue_file)
        self.supervisor.start(
            "workers",
            [
                "--nice",
                str(WORKER_NICENESS),
                "--endpoint",
                endpoint,
                "--queue-file",
                queue_file,
                "--config-dir",
                config_dir,
                "--state-dir",
                str(self.state_dir),
            ],
        )
        import app as chalice_app

        from .local_http import create_front

        self._front = create_front(
            chalice_app.app,
            self.host,
            self.port,
            connectors.settings.max_body_bytes,
            {"/health": self.health},
        )
        self.port = self._front.port
        state = {
            "endpoint": endpoint,
            "queue_file": queue_file,
            "url": f"http://{self.host}:{self.port}",
            "pid": os.getpid(),
            "config_dir": config_dir,
        }
        (self.state_dir / STATE_FILE_NAME).write_text(json.dumps(state))

    def health(self) -> tuple[int, dict]:
        """200 while the workers run; 503 while nothing processes what is acknowledged."""
        processes = [
            {"role": "http", "pid": os.getpid(), "state": "running"},
            *self.supervisor.snapshot(),
        ]
        queues = {}
        for name, queue in self._queues.items():
            try:
                depth, oldest = queue.stats()
                queues[name] = {"depth": depth, "oldest_age_seconds": oldest}
            except Exception as exc:  # an unreadable queue file is itself a health problem
                queues[name] = {"error": type(exc).__name__}
        processing = self.supervisor.running("workers") and self.supervisor.running("store")
        readable = all("error" not in q for q in queues.values())
        ok = processing and readable
        return (200 if ok else 503), {
            "status": "ok" if ok else "unavailable",
            "processing": processing,
            "processes": processes,
            "queues": queues,
        }

    def serve_forever(self) -> None:
        print(
            f"Chorus hub on http://{self.host}:{self.port}  (state in {self.state_dir}; Ctrl-C stops)",
            flush=True,
        )
        self._front.run()

    def stop(self) -> None:
        if self._front is not None:
            self._front.close()
            self._front = None
        self.supervisor.stop()
        for queue in self._queues.values():
            queue.close()
        self._queues = {}
        (self.state_dir / STATE_FILE_NAME).unlink(missing_ok=True)
        self.lock.release()
