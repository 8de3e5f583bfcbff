"""The local hub: the same app and pipeline on one machine, no AWS account, no Docker.

Everything lives in a state directory (default .chorus): the SQLite store and the blob files
(store/local.py), the queue file (local_queue.py), the schedule's last runs and the lock that
keeps a second hub out. Queue pollers in a supervised worker process feed the very handlers
Lambda would run, with the same partial-failure contract: failed messages stay on the queue,
come back after the visibility timeout, and after five receives land in the dead-letter queue
and from there in the dead-letter store. The parent process serves HTTP only.
`--store dynamodb` keeps the DynamoDB store against AWS_ENDPOINT_URL (or AWS itself).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .local_lock import StateLock
from .local_supervisor import Supervisor
from .resources import MAX_RECEIVE_COUNT, ResourceNames

log = logging.getLogger("chorus_hub.local")
LOCAL_VISIBILITY_SECONDS = 5
# Two ingest pollers drain a backlog faster than one; deliveries they process at the same
# moment resolve identities as if one after the other (pipeline/identity.py).
LOCAL_INGEST_POLLERS = 2
# Messages a local poller takes at once (SQS hands Lambda at most 10): a batch is one store
# transaction and one queue delete, so larger batches cost fewer commits per interaction; 50
# take well under the visibility timeout even on a busy machine.
LOCAL_BATCH_SIZE = 50
# The workers run at a lower CPU priority than the HTTP server and the queue it writes to:
# with a backlog they take the idle CPU, never a waiting provider's.
WORKER_NICENESS = 10
DEFAULT_STATE_DIR = ".chorus"
STATE_DIR_ENV = "CHORUS_STATE_DIR"
STATE_FILE_NAME = "local.json"
QUEUE_FILE_NAME = "queues.sqlite3"


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

    def __init__(self, consumer: Any, handle: Callable[[list[dict]], dict], name: str, batch_size: int = 10):
        super().__init__(name=f"poller-{name}", daemon=True)
        self.consumer, self._handle, self.batch_size = consumer, handle, batch_size
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception as exc:  # keep the local hub alive; the message stays on its queue
                log.warning("poller error", extra={"queue": self.name, "error": type(exc).__name__})
                self._halt.wait(1)

    def poll_once(self, wait_seconds: float = 0) -> int:
        records = self.consumer.receive(self.batch_size, wait_seconds)
        if not records:
            return 0
        failed = {f["itemIdentifier"] for f in self._handle(records).get("batchItemFailures", [])}
        done = [r["receiptHandle"] for r in records if r["messageId"] not in failed]
        if done:
            self.consumer.delete(done)
        return len(records)

    def stop(self) -> None:
        self._halt.set()


@dataclass(frozen=True)
class LocalWiring:
    """Where a local Hub's parts are: its connector files, its state directory (SQLite store,
    blobs, queue file) and its store kind. A value handed to whoever builds the Hub (the HTTP
    process, the workers, the CLI), never written to the process environment."""

    config_dir: Path
    state_dir: Path
    store: str = "sqlite"

    @classmethod
    def of(
        cls, config_dir: str | os.PathLike, state_dir: str | os.PathLike, store: str = "sqlite"
    ) -> LocalWiring:
        return cls(Path(config_dir).resolve(), Path(state_dir).resolve(), store)


def local_queues(names: ResourceNames, path: str | Path) -> dict[str, Any]:
    """The four queues in the local queue file, by name; the two work queues redrive to their
    dead-letter queues after MAX_RECEIVE_COUNT receives, as the SQS redrive policy does."""
    from .local_queue import LocalQueue

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


def build_local_hub(wiring: LocalWiring, inbox: Any = None) -> Any:
    """The Hub on `wiring`. With an inbox (the HTTP process), sends go there instead of to the
    queue file (local_inbox.py)."""
    from ..config.loader import load_directory
    from ..hub import Hub
    from ..logs import configure_logging
    from ..store.local import open_local_storage

    configure_logging()
    storage = open_local_storage(wiring.state_dir, wiring.store)
    names = ResourceNames.from_env()
    queues = local_queues(names, wiring.state_dir / QUEUE_FILE_NAME)
    return Hub(
        connectors=load_directory(wiring.config_dir),
        store=storage.store,
        ingest_queue=inbox.queue(names.ingest_queue) if inbox else queues[names.ingest_queue],
        sync_queue=inbox.queue(names.sync_queue) if inbox else queues[names.sync_queue],
        blobs=storage.blobs,
    )


def make_pollers(
    hub: Any,
    consumers: Mapping[str, Any],
    names: ResourceNames,
    ingest_pollers: int = 1,
    batch_size: int = 10,
) -> list[QueuePoller]:
    """The pollers, each on the consumer (SqsConsumer or LocalQueue) of its queue name; the
    ingest queue may have several, as a Lambda has several concurrent invocations. The work
    queues are received `batch_size` messages at a time (SQS: at most 10)."""
    from .batch import handle_dead_letter_batch, handle_ingest_batch, handle_sync_batch

    return [
        *(
            QueuePoller(
                consumers[names.ingest_queue],
                lambda r: handle_ingest_batch(hub, r),
                f"ingest-{n}",
                batch_size,
            )
            for n in range(ingest_pollers)
        ),
        QueuePoller(consumers[names.sync_queue], lambda r: handle_sync_batch(hub, r), "sync", batch_size),
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


def default_worker_processes() -> int:
    """$CHORUS_WORKERS, else one worker process per core, at most 4: the store has one writer at a
    time, and two processes drain ~1.3x what one does on 2 cores (docs/performance.md)."""
    configured = os.environ.get("CHORUS_WORKERS")
    if not configured:
        return max(1, min(4, os.cpu_count() or 1))
    if not configured.strip().isdigit() or int(configured) < 1:
        from ..errors import ConfigError

        raise ConfigError([("environment", "CHORUS_WORKERS", f"not a number of processes: {configured!r}")])
    return int(configured)


class LocalHub:
    """Start with `start()`, serve with `serve_forever()`, stop with `stop()`.

    This process serves HTTP only; the queue workers are a child process (local_children.py)
    under a supervisor that restarts it when it dies. One hub at a time holds a state
    directory (local_lock.py); the queue file there is kept across restarts, so what was
    acknowledged is processed after a crash."""

    def __init__(
        self,
        config_dir: str,
        host: str = "127.0.0.1",
        port: int = 8000,
        state_dir: str | os.PathLike = DEFAULT_STATE_DIR,
        store: str = "sqlite",
        workers: int | None = None,
    ):
        self.config_dir, self.host, self.port, self.store = config_dir, host, port, store
        self.workers = workers
        self.state_dir = Path(state_dir).resolve()
        self.lock = StateLock(self.state_dir)
        self.supervisor = Supervisor()
        self._front: Any = None
        self._queues: dict[str, Any] = {}
        self.notes: list[str] = []  # printed with the banner
        self._inbox: Any = None

    def start(self) -> None:
        self.lock.acquire()  # first: a second hub stops here, having touched nothing
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        from ..config.loader import load_directory
        from ..config.secret_check import unresolved_secrets
        from ..errors import ConfigError

        # fail fast, with every problem listed, before starting anything
        connectors = load_directory(self.config_dir)
        problems = unresolved_secrets(connectors)
        if problems:
            raise ConfigError(problems)
        self.workers = self.workers or default_worker_processes()
        self.notes += _admin_token_note()
        wiring = LocalWiring.of(self.config_dir, self.state_dir, self.store)
        config_dir = str(wiring.config_dir)
        from .aws import get_hub, use_hub_factory
        from .local_inbox import Inbox

        queue_file = self.state_dir / QUEUE_FILE_NAME
        self._queues = local_queues(ResourceNames.from_env(), queue_file)  # creates the queue file
        self._inbox = Inbox(self.state_dir, queue_file)
        use_hub_factory(lambda: build_local_hub(wiring, self._inbox))  # the app's routes call get_hub()
        hub = get_hub()  # built now (store schema), not on the first delivery
        hub.refusals.start_timer(hub)  # buffered refusals reach the store within a second
        self._inbox.start_pruning()
        # listening first: a port in use fails the start before any worker runs
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
        worker_args = [
            "--nice",
            str(WORKER_NICENESS),
            "--config-dir",
            config_dir,
            "--state-dir",
            str(self.state_dir),
            "--store",
            self.store,
        ]
        self.supervisor.start("workers", worker_args)
        for n in range(2, self.workers + 1):  # more cores: more processes draining the queues
            self.supervisor.start("queue-workers", worker_args, name=f"queue-workers-{n}")
        state = {
            "url": f"http://{self.host}:{self.port}",
            "pid": os.getpid(),
            "config_dir": config_dir,
            "store": self.store,
            "queue_file": str(self.state_dir / QUEUE_FILE_NAME),
        }
        (self.state_dir / STATE_FILE_NAME).write_text(json.dumps(state))

    def health(self) -> tuple[int, dict]:
        """200 while the workers run; 503 while nothing processes what is acknowledged."""
        processes = [
            {"role": "http", "pid": os.getpid(), "state": "running"},
            *self.supervisor.snapshot(),
        ]
        queues: dict[str, dict] = {}
        try:
            waiting = self._inbox.pending() if self._inbox else {}
        except Exception as exc:  # an unreadable inbox is itself a health problem
            waiting, queues["inbox"] = {}, {"error": type(exc).__name__}
        now = time.time()
        for name, queue in self._queues.items():
            try:
                depth, oldest = queue.stats()
                more, first_sent = waiting.get(name, (0, None))
                if first_sent is not None:  # acknowledged, not yet moved to the queue file
                    oldest = max(oldest or 0.0, round(max(0.0, now - first_sent), 3))
                queues[name] = {"depth": depth + more, "oldest_age_seconds": oldest}
            except Exception as exc:  # an unreadable queue file is itself a health problem
                queues[name] = {"error": type(exc).__name__}
        processing = self.supervisor.running("workers")
        ok = processing and all("error" not in q for q in queues.values())
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
        for note in self.notes:
            print(f"note: {note}", flush=True)
        self._front.run()

    def stop(self) -> None:
        if self._front is not None:
            self._front.close()
            self._front = None
        self.supervisor.stop()
        for queue in self._queues.values():
            queue.close()
        self._queues = {}
        if self._inbox is not None:
            self._inbox.close()
            self._inbox = None
        self.lock.release()  # local.json stays: the CLI reads the config folder there


def _admin_token_note() -> list[str]:
    """The admin API answers 401 to everyone without its token: say so at start, not at first use."""
    from ..config.secrets import SecretResolver
    from ..errors import SecretUnavailable

    ref = os.environ.get("CHORUS_ADMIN_TOKEN_REF", "env:CHORUS_ADMIN_TOKEN")
    try:
        SecretResolver().resolve(ref)
    except SecretUnavailable:
        return [f"the admin API is off: its token ({ref}) does not resolve"]
    return []
