"""The description as Terraform JSON: chorus.tf.json (the resources) and chorus_override.tf.json (a
Terraform override file changing Chalice's chalice.tf.json, which has no --merge-template)."""

from __future__ import annotations

import json
from typing import Any

from .description import (
    ALARM_PERIOD_SECONDS,
    PARTIAL_FAILURES,
    AccountArn,
    Alarm,
    ArnValue,
    Attr,
    Bucket,
    Description,
    DescriptionError,
    Queue,
    Secret,
    Table,
    policy_document,
    tls_only,
)

ALARM_VARIABLE = "alarm_action_arn"
# Chalice declares these data sources in chalice.tf.json; the ARNs below use them.
_ACCOUNT = "${data.aws_caller_identity.chalice.account_id}"
_REGION = "${data.aws_region.chalice.name}"
_PARTITION = "${data.aws_partition.chalice.partition}"
_TYPES: dict[type, str] = {
    Table: "aws_dynamodb_table",
    Queue: "aws_sqs_queue",
    Bucket: "aws_s3_bucket",
    Secret: "aws_secretsmanager_secret",
}


def address(resource: Table | Queue | Bucket | Secret) -> str:
    """`type.name` of a described resource."""
    return f"{_TYPES[type(resource)]}.{resource.id.terraform}"


def value(ref: ArnValue) -> str:
    """A reference as a Terraform interpolation."""
    if isinstance(ref, str):
        return ref
    if isinstance(ref, AccountArn):
        return f"arn:{_PARTITION}:{ref.service}:{_REGION}:{_ACCOUNT}:{ref.resource}"
    attribute = "id" if isinstance(ref.resource, Bucket) and ref.attribute == "name" else ref.attribute
    return f"${{{address(ref.resource)}.{attribute}}}{ref.suffix}"


def render(description: Description) -> dict[str, Any]:
    """chorus.tf.json: a variable for the alarm action, the resources and their outputs."""
    protect = {"lifecycle": {"prevent_destroy": True}} if description.retain else {}
    bucket = description.bucket
    bucket_id = value(Attr(bucket, "name"))
    per_bucket = {  # what CloudFormation writes as properties of the bucket are resources here
        "aws_s3_bucket_public_access_block": {
            "bucket": bucket_id,
            "block_public_acls": True,
            "block_public_policy": True,
            "ignore_public_acls": True,
            "restrict_public_buckets": True,
        },
        "aws_s3_bucket_ownership_controls": {
            "bucket": bucket_id,
            "rule": {"object_ownership": "BucketOwnerEnforced"},
        },
        "aws_s3_bucket_server_side_encryption_configuration": {
            "bucket": bucket_id,
            "rule": {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}},
        },
        "aws_s3_bucket_lifecycle_configuration": {
            "bucket": bucket_id,
            "rule": {
                "id": "expire-deliveries",
                "status": "Enabled",
                "filter": {},
                "expiration": {"days": bucket.expiry_days},
                "abort_incomplete_multipart_upload": {"days_after_initiation": bucket.abort_multipart_days},
            },
        },
        "aws_s3_bucket_policy": {"bucket": bucket_id, "policy": json.dumps(tls_only(bucket, value))},
    }
    resources: dict[str, Any] = {
        "aws_dynamodb_table": {description.table.id.terraform: {**_table(description.table), **protect}},
        "aws_sqs_queue": {q.id.terraform: _queue(q) for q in description.queues},
        "aws_cloudwatch_metric_alarm": {a.id.terraform: _alarm(a) for a in description.alarms},
        "aws_s3_bucket": {
            bucket.id.terraform: {"bucket": f"{bucket.name_prefix}-{_ACCOUNT}-{_REGION}", **protect}
        },
        **{kind: {bucket.id.terraform: block} for kind, block in per_bucket.items()},
    }
    secret = description.admin_secret
    if secret:
        # The value is set once by the operator (see docs/deploy.md): Terraform state never holds it.
        resources["aws_secretsmanager_secret"] = {
            secret.id.terraform: {"name": secret.name, "description": secret.description}
        }
    return {
        "variable": {
            ALARM_VARIABLE: {
                "type": "string",
                "default": "",
                "description": "alarm action (e.g. an SNS topic ARN) for dead letters",
            }
        },
        "resource": resources,
        "output": {name: {"value": value(ref)} for name, ref in description.outputs.items()},
    }


def override(chalice_tf: dict[str, Any], description: Description) -> dict[str, Any]:
    """chorus_override.tf.json: the environment, partial batch failures and the scoped policy on
    Chalice's functions, event source mappings and role policies."""
    chalice_resources = chalice_tf["resource"]
    environment = {name: value(ref) for name, ref in description.environment.items()}
    functions: dict[str, Any] = {}
    timeouts: dict[str, int] = {}
    for name, function in chalice_resources.get("aws_lambda_function", {}).items():
        timeouts[name] = function.get("timeout", 3)
        variables = {**(function.get("environment") or {}).get("variables", {}), **environment}
        functions[name] = {"environment": {"variables": variables}}  # an override replaces the whole block
    mappings: dict[str, Any] = {}
    consumers: dict[Queue, str] = {}
    for name, mapping in chalice_resources.get("aws_lambda_event_source_mapping", {}).items():
        queue = description.queue_named(mapping["event_source_arn"].rsplit(":", 1)[-1])
        consumers[queue] = mapping["function_name"].split(".")[1]
        mappings[name] = {
            "event_source_arn": value(Attr(queue, "arn")),
            "function_response_types": PARTIAL_FAILURES,
        }
    description.check_visibility(timeouts, consumers)
    policies = {
        name: {
            "policy": json.dumps(
                policy_document(description, json.loads(p["policy"]).get("Statement", []), value)
            )
        }
        for name, p in chalice_resources.get("aws_iam_role_policy", {}).items()
    }
    return {
        # Chalice pins Terraform < 1.4 and the AWS provider < 5; the S3 resources above need >= 4.9.
        "terraform": {
            "required_version": ">= 1.0, < 2.0",
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 4.9, < 5"}},
        },
        "resource": {
            "aws_lambda_function": functions,
            "aws_lambda_event_source_mapping": mappings,
            "aws_iam_role_policy": policies,
        },
    }


def check(chalice_tf: dict[str, Any], override: dict[str, Any]) -> None:
    """Every Chalice function, event source mapping and role policy is overridden."""
    for kind in ("aws_lambda_event_source_mapping", "aws_iam_role_policy", "aws_lambda_function"):
        missing = set(chalice_tf["resource"].get(kind, {})) - set(override["resource"][kind])
        if missing:
            raise DescriptionError(f"no override for {kind} {', '.join(sorted(missing))}")


def _table(table: Table) -> dict[str, Any]:
    return {
        "name": table.name,
        "billing_mode": table.billing_mode,
        "hash_key": table.hash_key,
        "range_key": table.range_key,
        "attribute": [{"name": n, "type": t} for n, t in table.attributes],
        "global_secondary_index": [
            {
                "name": i.name,
                "hash_key": i.hash_key,
                "range_key": i.range_key,
                "projection_type": i.projection,
            }
            for i in table.indexes
        ],
        "ttl": {"attribute_name": table.ttl_attribute, "enabled": True},
        "point_in_time_recovery": {"enabled": True},
    }


def _queue(queue: Queue) -> dict[str, Any]:
    block: dict[str, Any] = {
        "name": queue.name,
        "visibility_timeout_seconds": queue.visibility_seconds,
        "sqs_managed_sse_enabled": True,
    }
    if queue.retention_seconds is not None:
        block["message_retention_seconds"] = queue.retention_seconds
    if queue.dead_letter is not None:
        block["redrive_policy"] = (
            f"${{jsonencode({{deadLetterTargetArn = {address(queue.dead_letter)}.arn, "
            f"maxReceiveCount = {queue.max_receive_count}}})}}"
        )
    return block


def _alarm(alarm: Alarm) -> dict[str, Any]:
    return {
        "alarm_name": alarm.name,
        "alarm_description": alarm.description,
        "namespace": "AWS/SQS",
        "metric_name": alarm.metric,
        "statistic": alarm.statistic,
        "dimensions": {"QueueName": value(Attr(alarm.queue, "name"))},
        "period": ALARM_PERIOD_SECONDS,
        "evaluation_periods": alarm.periods,
        "threshold": 1,
        "comparison_operator": "GreaterThanOrEqualToThreshold",
        "treat_missing_data": "notBreaching",
        "alarm_actions": f'${{var.{ALARM_VARIABLE} == "" ? [] : [var.{ALARM_VARIABLE}]}}',
    }
