"""The AWS resources Chorus needs beside Chalice's functions, as data, from runtime/resources.py.

`describe()` turns the resource spec (names, table keys, TTL, queue settings) and a stage's
secret references into one `Description`; cloudformation.py and terraform.py only translate
it, so both formats declare the same resources with the same names and settings. References
between resources are `Attr`s, which each renderer writes in its own syntax.

>>> d = describe(ResourceNames.from_env({}), "prod", ["ssm:/chorus/prod/typeform"], None)
>>> [q.name for q in d.queues]
['chorus-ingest', 'chorus-sync', 'chorus-ingest-dlq', 'chorus-sync-dlq']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..runtime.resources import (
    DLQ_RETENTION_SECONDS,
    MAX_RECEIVE_COUNT,
    QUEUE_VISIBILITY_SECONDS,
    TABLE_KEYS,
    TTL_ATTRIBUTE,
    ResourceNames,
)

DELIVERY_EXPIRY_DAYS = 30  # oversized raw deliveries (claim checks) outlive the 14-day DLQ
VISIBILITY_FACTOR = 6  # AWS: queue visibility >= 6x the consuming function's timeout
PARTIAL_FAILURES = ["ReportBatchItemFailures"]
ALARM_PERIOD_SECONDS = 300

# TransactWriteItems (identity claims) is authorised per item: its Puts need dynamodb:PutItem
# ("Using IAM with DynamoDB transactions", DynamoDB developer guide).
DYNAMODB_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
)
SQS_ACTIONS = (
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ChangeMessageVisibility",
)
S3_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")  # delete: privacy erasure
_SECRET_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")  # the six characters Secrets Manager appends


class DescriptionError(Exception):
    """Chalice's output does not fit what Chorus declares (an unknown queue, a short visibility)."""


@dataclass(frozen=True)
class ResourceId:
    """How each format names a resource. Kept stable: a renamed logical id replaces the resource."""

    cloudformation: str
    terraform: str


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str
    projection: str


@dataclass(frozen=True)
class Table:
    id: ResourceId
    name: str
    billing_mode: str
    attributes: tuple[tuple[str, str], ...]  # (name, DynamoDB type)
    hash_key: str
    range_key: str
    indexes: tuple[Index, ...]
    ttl_attribute: str


@dataclass(frozen=True)
class Queue:
    id: ResourceId
    key: str  # the ResourceNames field: ingest_queue, sync_queue, ingest_dlq, sync_dlq
    name: str
    visibility_seconds: int
    retention_seconds: int | None  # None: the SQS default (4 days)
    dead_letter: Queue | None
    max_receive_count: int | None


@dataclass(frozen=True)
class Alarm:
    """A CloudWatch alarm on one dead-letter queue's metric (>= 1 over `periods` x 5 minutes)."""

    id: ResourceId
    name: str
    description: str
    queue: Queue
    metric: str
    statistic: str
    periods: int


@dataclass(frozen=True)
class Bucket:
    """Private, encrypted, TLS only, objects expire. The name gets -<account>-<region> appended."""

    id: ResourceId
    name_prefix: str
    expiry_days: int
    abort_multipart_days: int


@dataclass(frozen=True)
class Secret:
    """Created empty of a known value: CloudFormation generates one, Terraform leaves it to the operator."""

    id: ResourceId
    name: str
    description: str


Resource = Table | Queue | Bucket | Secret


@dataclass(frozen=True)
class Attr:
    """An attribute of a described resource (`suffix` appended, e.g. an ARN's `/index/*`)."""

    resource: Resource
    attribute: Literal["arn", "name", "url"]
    suffix: str = ""


@dataclass(frozen=True)
class AccountArn:
    """arn:<partition>:<service>:<region>:<account>:<resource> of the deploying account."""

    service: str
    resource: str


ArnValue = Attr | AccountArn | str
Render = Callable[[ArnValue], Any]  # a reference in one format's syntax


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[ArnValue, ...]


@dataclass(frozen=True)
class Description:
    stage: str
    retain: bool  # data outlives the stack (every stage but dev)
    table: Table
    queues: tuple[Queue, ...]
    alarms: tuple[Alarm, ...]
    bucket: Bucket
    admin_secret: Secret | None
    statements: tuple[Statement, ...]  # added to every function's role
    environment: Mapping[str, Attr]  # added to every function
    outputs: Mapping[str, Attr]  # snake_case; CloudFormation writes them in CamelCase

    def queue_named(self, name: str) -> Queue:
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise DescriptionError(
            f"a function listens on queue {name!r}, which is not one of Chorus's "
            f"({', '.join(q.name for q in self.queues)})"
        )

    def check_visibility(self, timeouts: Mapping[str, int], consumers: Mapping[Queue, str]) -> None:
        """consumers: queue -> function; timeouts: function -> seconds."""
        for queue, function in consumers.items():
            needed = VISIBILITY_FACTOR * timeouts[function]
            if queue.visibility_seconds < needed:
                raise DescriptionError(
                    f"{function} has a {timeouts[function]} s timeout: the {queue.name} visibility "
                    f"({queue.visibility_seconds} s) must be at least {needed} s"
                )


def describe(names: ResourceNames, stage: str, refs: list[str], admin_secret: str | None) -> Description:
    """The stage's resources. `refs`: every ssm:/secretsmanager: reference the functions read;
    `admin_secret`: the admin token secret's name when the stack creates it."""
    table = _table(names)
    queues = _queues(names)
    alarms = _alarms(tuple(q for q in queues if q.dead_letter is None))
    bucket = Bucket(ResourceId("DeliveriesBucket", "deliveries"), names.bucket, DELIVERY_EXPIRY_DAYS, 1)
    secret = (
        Secret(
            ResourceId("AdminTokenSecret", "admin_token"),
            admin_secret,
            f"Chorus {stage} admin API bearer token",
        )
        if admin_secret
        else None
    )
    by_key = {q.key: q for q in queues}
    outputs: dict[str, Attr] = {
        "table_name": Attr(table, "name"),
        "deliveries_bucket_name": Attr(bucket, "name"),
        **{f"{q.key}_url": Attr(q, "url") for q in queues},
    }
    if secret:
        outputs["admin_token_secret_arn"] = Attr(secret, "arn")
    return Description(
        stage=stage,
        retain=stage != "dev",
        table=table,
        queues=queues,
        alarms=alarms,
        bucket=bucket,
        admin_secret=secret,
        statements=_statements(table, queues, bucket, refs, secret),
        environment={
            "CHORUS_TABLE": Attr(table, "name"),
            "CHORUS_BUCKET": Attr(bucket, "name"),
            "CHORUS_INGEST_QUEUE_URL": Attr(by_key["ingest_queue"], "url"),
            "CHORUS_SYNC_QUEUE_URL": Attr(by_key["sync_queue"], "url"),
        },
        outputs=outputs,
    )


def _table(names: ResourceNames) -> Table:
    return Table(
        id=ResourceId("ChorusTable", "chorus"),
        name=names.table,
        billing_mode=str(TABLE_KEYS["BillingMode"]),
        attributes=tuple(
            (a["AttributeName"], a["AttributeType"]) for a in _list(TABLE_KEYS, "AttributeDefinitions")
        ),
        hash_key=_key(_list(TABLE_KEYS, "KeySchema"), "HASH"),
        range_key=_key(_list(TABLE_KEYS, "KeySchema"), "RANGE"),
        indexes=tuple(
            Index(
                g["IndexName"],
                _key(g["KeySchema"], "HASH"),
                _key(g["KeySchema"], "RANGE"),
                g["Projection"]["ProjectionType"],
            )
            for g in _list(TABLE_KEYS, "GlobalSecondaryIndexes")
        ),
        ttl_attribute=TTL_ATTRIBUTE,
    )


def _queues(names: ResourceNames) -> tuple[Queue, ...]:
    """The work queues, each redriving to its dead-letter queue, then the dead-letter queues."""
    queues: list[Queue] = []
    dead_letters: list[Queue] = []
    for work, dlq, cfn, tf in (
        ("ingest_queue", "ingest_dlq", "Ingest", "ingest"),
        ("sync_queue", "sync_dlq", "Sync", "sync"),
    ):
        dead = Queue(
            ResourceId(f"{cfn}DeadLetterQueue", f"{tf}_dlq"),
            dlq,
            getattr(names, dlq),
            QUEUE_VISIBILITY_SECONDS,  # the dead-letter handlers consume these too
            DLQ_RETENTION_SECONDS,
            None,
            None,
        )
        dead_letters.append(dead)
        queues.append(
            Queue(
                ResourceId(f"{cfn}Queue", tf),
                work,
                getattr(names, work),
                QUEUE_VISIBILITY_SECONDS,
                None,
                dead,
                MAX_RECEIVE_COUNT,
            )
        )
    return (*queues, *dead_letters)


def _alarms(dead_letters: tuple[Queue, ...]) -> tuple[Alarm, ...]:
    return tuple(
        Alarm(
            ResourceId(f"{q.id.cloudformation}{cfn}", f"{q.id.terraform}_{tf}"),
            f"{q.name}-{tf}",
            f"{q.name}: {what}",
            q,
            metric,
            statistic,
            periods,
        )
        for q in dead_letters
        for cfn, tf, metric, statistic, periods, what in (
            ("ArrivalAlarm", "arrivals", "NumberOfMessagesReceived", "Sum", 1, "dead letters arrived"),
            (
                "DepthAlarm",
                "depth",
                "ApproximateNumberOfMessagesVisible",
                "Maximum",
                3,
                "dead letters are not drained",
            ),
        )
    )


def _statements(
    table: Table, queues: tuple[Queue, ...], bucket: Bucket, refs: list[str], secret: Secret | None
) -> tuple[Statement, ...]:
    """The actions Chorus calls, on its own resources only, and the secrets its connectors name."""
    statements = [
        Statement("ChorusTable", DYNAMODB_ACTIONS, (Attr(table, "arn"), Attr(table, "arn", "/index/*"))),
        Statement("ChorusQueues", SQS_ACTIONS, tuple(Attr(q, "arn") for q in queues)),
        Statement("ChorusDeliveries", S3_ACTIONS, (Attr(bucket, "arn", "/*"),)),
    ]
    secrets: list[ArnValue] = []
    parameters: list[ArnValue] = []
    for ref in refs:
        scheme, _, target = ref.partition(":")
        if scheme == "secretsmanager":
            if secret and target == secret.name:
                secrets.append(Attr(secret, "arn"))
            elif target.startswith("arn:"):
                secrets.append(target if _SECRET_SUFFIX.search(target) else target + "-??????")
            else:
                secrets.append(AccountArn("secretsmanager", f"secret:{target}-??????"))
        elif scheme == "ssm":
            parameters.append(
                target if target.startswith("arn:") else AccountArn("ssm", "parameter/" + target.lstrip("/"))
            )
    if secrets:
        statements.append(Statement("ChorusSecrets", ("secretsmanager:GetSecretValue",), tuple(secrets)))
    if parameters:
        statements.append(Statement("ChorusParameters", ("ssm:GetParameter",), tuple(parameters)))
    return tuple(statements)


def policy_document(description: Description, statements: list[dict[str, Any]], to: Render) -> dict[str, Any]:
    """`statements` (Chalice's own, e.g. logs) followed by Chorus's, references written by `to`."""
    return {
        "Version": "2012-10-17",
        "Statement": statements + [_statement(s, to) for s in description.statements],
    }


def tls_only(bucket: Bucket, to: Render) -> dict[str, Any]:
    """The bucket policy that refuses every request not made over TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [to(Attr(bucket, "arn")), to(Attr(bucket, "arn", "/*"))],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def _statement(statement: Statement, to: Render) -> dict[str, Any]:
    return {
        "Sid": statement.sid,
        "Effect": "Allow",
        "Action": list(statement.actions),
        "Resource": [to(r) for r in statement.resources],
    }


def _list(spec: Mapping[str, object], name: str) -> list[dict]:
    value = spec[name]
    assert isinstance(value, list)
    return value


def _key(schema: list[dict], key_type: str) -> str:
    return str(next(k["AttributeName"] for k in schema if k["KeyType"] == key_type))
