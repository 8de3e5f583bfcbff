"""What a test needs to know about the backend its hub runs on (tests/conftest.py)."""

from __future__ import annotations

from typing import Any


def consumers(hub: Any) -> dict[str, Any]:
    """Queue name -> the workers' side of it (receive/delete): the local queue file's queues, or
    SQS consumers on moto."""
    local = getattr(hub, "test_consumers", None)
    if local is not None:
        return local
    import boto3

    from chalicelib.runtime.local import sqs_consumers
    from chalicelib.runtime.resources import ResourceNames

    return sqs_consumers(boto3.client("sqs"), ResourceNames.from_env())


def person_ids(hub: Any) -> list[str]:
    """Every stored profile, merged-away ones included (a test may list them all)."""
    from chalicelib.store.sqlite import SqliteStore

    if isinstance(hub.store, SqliteStore):
        return [row[0] for row in hub.store._all("SELECT person_id FROM people")]
    import boto3

    from chalicelib.runtime.resources import ResourceNames

    items = boto3.client("dynamodb").scan(TableName=ResourceNames.from_env().table)["Items"]
    return [i["pk"]["S"][2:] for i in items if i["sk"]["S"] == "PROFILE"]
