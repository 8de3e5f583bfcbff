"""Build the Hub from the environment with boto3 clients.

On Lambda the clients reach AWS; the local hub sets AWS_ENDPOINT_URL so the very same
clients reach the embedded server. Clients, not resources: a resource costs ~80 ms cold.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from ..config.loader import load_connectors
from ..hub import Hub
from ..logs import configure_logging
from ..queues import S3Blobs, SqsQueue
from ..store.dynamodb import DynamoStore
from .resources import ResourceNames

_hub: Hub | None = None
_factory: Callable[[], Hub] | None = None  # None: build_hub
_lock = threading.Lock()


def build_hub() -> Hub:
    import boto3
    from botocore.config import Config

    configure_logging()
    names = ResourceNames.from_env()
    session = boto3.session.Session()
    retry = Config(retries={"mode": "standard", "max_attempts": 5})
    return Hub(
        connectors=load_connectors(),
        store=DynamoStore(session.client("dynamodb", config=retry), names.table),
        ingest_queue=SqsQueue(
            session.client("sqs", config=retry), names.ingest_queue, os.environ.get("CHORUS_INGEST_QUEUE_URL")
        ),
        sync_queue=SqsQueue(
            session.client("sqs", config=retry), names.sync_queue, os.environ.get("CHORUS_SYNC_QUEUE_URL")
        ),
        blobs=S3Blobs(session.client("s3", config=retry), names.bucket),
    )


def get_hub() -> Hub:
    """The process-wide Hub, built on first use (so `import app` stays cheap)."""
    global _hub
    if _hub is None:
        with _lock:
            if _hub is None:
                _hub = (_factory or build_hub)()
    return _hub


def use_hub_factory(factory: Callable[[], Hub]) -> None:
    """Build this process's Hub with `factory` from now on (the local hub's queue wiring)."""
    global _factory
    reset_hub()
    _factory = factory


def reset_hub() -> None:
    """Forget the cached Hub (tests, config reload)."""
    global _hub
    with _lock:
        _hub = None
