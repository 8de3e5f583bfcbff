"""A hub for the conformance suite without AWS: the SQLite store, file blobs, list queues."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.support.paths import CONNECTORS


class ListQueue:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def send_many(self, messages: list[dict[str, Any]]) -> None:
        self.messages += messages

    def retry_later(self, receipt_handle: str, seconds: float) -> None:
        raise AssertionError("ingest never retries a message")


def connector_set(wrong_secrets: bool = False):
    """The test connector files; with `wrong_secrets`, every secret resolves to another value:
    the hub of an operator whose secret the sender does not know."""
    from chalicelib.config.loader import load_directory
    from chalicelib.config.secrets import SecretResolver

    def environ(name: str) -> str | None:
        value = os.environ.get(name)
        return None if value is None else ("wrong-" + value if wrong_secrets else value)

    return load_directory(CONNECTORS, SecretResolver(environ))


def make_hub(tmp_path, wrong_secrets: bool = False):
    from chalicelib.hub import Hub
    from chalicelib.store.blobs import FileBlobs
    from chalicelib.store.sqlite import SqliteStore

    return Hub(
        connectors=connector_set(wrong_secrets),
        store=SqliteStore(tmp_path / ("wrong.sqlite3" if wrong_secrets else "store.sqlite3")),
        ingest_queue=ListQueue(),
        sync_queue=ListQueue(),
        blobs=FileBlobs(tmp_path / "blobs"),
    )


@pytest.fixture
def hub(tmp_path):
    return make_hub(tmp_path)


@pytest.fixture
def wrong_hub(tmp_path):
    return make_hub(tmp_path, wrong_secrets=True)
