"""Every store contract test runs once per backend: SQLite (a file in tmp_path) and DynamoDB
through moto, unpatched (moto is a test double only)."""

from __future__ import annotations

import pytest


class Clock:
    """Epoch seconds the test moves by hand (TTLs)."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request, tmp_path, clock):
    if request.param == "sqlite":
        from chalicelib.store.sqlite import SqliteStore

        backend = SqliteStore(tmp_path / "store.sqlite3", clock=clock)
        yield backend
        backend.close()
        return
    from moto import mock_aws

    with mock_aws():
        import boto3

        from chalicelib.runtime.resources import TABLE_KEYS
        from chalicelib.store.dynamodb import DynamoStore

        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="contract", **TABLE_KEYS)
        yield DynamoStore(client, "contract", clock=clock)
