"""The local hub's storage wiring: which store and blob directory a state directory holds.

`chorus serve` (runtime/local*.py) and the CLI call `open_local_storage(state_dir)`; every
process of the hub opens its own, on the same files. Layout of the state directory:
  store.sqlite3 (+ -wal, -shm)   the SQLite store (store/sqlite.py)
  blobs/                         large deliveries, one file each (store/blobs.py)
`kind="dynamodb"` keeps the DynamoDB store against any endpoint (AWS_ENDPOINT_URL, e.g.
DynamoDB Local), creating the table when missing; blobs stay files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..queues import BlobStore
from .base import Store

STORE_FILE = "store.sqlite3"
BLOB_DIR = "blobs"
STORE_KINDS = ("sqlite", "dynamodb")


@dataclass
class LocalStorage:
    store: Store
    blobs: BlobStore


def open_local_storage(state_dir: str | os.PathLike[str], kind: str = "sqlite") -> LocalStorage:
    from .blobs import FileBlobs

    state = Path(state_dir)
    blobs = FileBlobs(state / BLOB_DIR)
    if kind == "sqlite":
        from .sqlite import SqliteStore

        return LocalStorage(SqliteStore(state / STORE_FILE), blobs)
    if kind == "dynamodb":
        return LocalStorage(_dynamodb_store(), blobs)
    raise ValueError(f"unknown store {kind!r}: choose one of {', '.join(STORE_KINDS)}")


def _dynamodb_store() -> Store:
    import boto3

    from ..runtime.resources import TABLE_KEYS, TTL_ATTRIBUTE, ResourceNames
    from .dynamodb import DynamoStore

    client = boto3.client("dynamodb")
    table = ResourceNames.from_env().table
    if table not in client.list_tables()["TableNames"]:
        client.create_table(TableName=table, **TABLE_KEYS)
        client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )
    return DynamoStore(client, table)
