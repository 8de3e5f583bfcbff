"""The table, queues and bucket Chorus needs, declared once.

The local hub and the tests create them from these specs; `chorus package` writes the same
specs into the CloudFormation template merged into Chalice's output.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

MAX_RECEIVE_COUNT = 5
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: time to fix and replay


@dataclass(frozen=True)
class ResourceNames:
    table: str
    ingest_queue: str
    sync_queue: str
    ingest_dlq: str
    sync_dlq: str
    bucket: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ResourceNames:
        """Names from the environment (or from a stage's variables, for `chorus package`)."""
        env = os.environ if environ is None else environ
        prefix = env.get("CHORUS_PREFIX", "chorus")
        return cls(
            table=env.get("CHORUS_TABLE", f"{prefix}-table"),
            ingest_queue=env.get("CHORUS_INGEST_QUEUE", f"{prefix}-ingest"),
            sync_queue=env.get("CHORUS_SYNC_QUEUE", f"{prefix}-sync"),
            ingest_dlq=env.get("CHORUS_INGEST_DLQ", f"{prefix}-ingest-dlq"),
            sync_dlq=env.get("CHORUS_SYNC_DLQ", f"{prefix}-sync-dlq"),
            bucket=env.get("CHORUS_BUCKET", f"{prefix}-deliveries"),
        )


TABLE_KEYS = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "gsi1pk", "AttributeType": "S"},
        {"AttributeName": "gsi1sk", "AttributeType": "S"},
        {"AttributeName": "gsi2pk", "AttributeType": "S"},
        {"AttributeName": "gsi2sk", "AttributeType": "N"},
    ],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "gsi1",
            "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [
                {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
            ],
        },
        {
            "IndexName": "gsi2",
            "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [
                {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
            ],
        },
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
TTL_ATTRIBUTE = "ttl"
# Visibility must exceed the consuming Lambda's timeout (AWS advises 6x) so a slow batch is
# not handed to a second invocation while the first still runs.
QUEUE_VISIBILITY_SECONDS = 360


def create_resources(
    dynamodb, sqs, s3, names: ResourceNames, *, visibility_seconds: int | None = None
) -> None:
    """Create everything (idempotent). Used by the local hub and the tests, never on AWS.
    Without an SQS client (the local hub, whose queues are a file) no queue is created."""
    existing = dynamodb.list_tables()["TableNames"]
    if names.table not in existing:
        dynamodb.create_table(
            TableName=names.table,
            **TABLE_KEYS,
        )
        dynamodb.update_time_to_live(
            TableName=names.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )
    if sqs is not None:
        _create_queues(sqs, names, str(visibility_seconds or QUEUE_VISIBILITY_SECONDS))
    try:
        s3.create_bucket(Bucket=names.bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass


def _create_queues(sqs, names: ResourceNames, visibility: str) -> None:
    import json

    for queue, dlq in ((names.ingest_queue, names.ingest_dlq), (names.sync_queue, names.sync_dlq)):
        dlq_url = sqs.create_queue(
            QueueName=dlq, Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}
        )["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sqs.create_queue(
            QueueName=queue,
            Attributes={
                "VisibilityTimeout": visibility,
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
                ),
            },
        )
