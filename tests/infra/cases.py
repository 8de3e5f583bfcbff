"""The stages the infra tests render, and stand-ins for what `chalice package` generates."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.runtime.resources import ResourceNames

NAMES = ResourceNames.from_env({"CHORUS_PREFIX": "chorus-prod"})
REFS = [
    "ssm:/chorus/prod/typeform",
    "ssm:arn:aws:ssm:eu-west-1:123456789012:parameter/shared/x",
    "secretsmanager:chorus/hubspot",
    "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf",
    "secretsmanager:chorus-prod/admin-token",
]
CASES = {
    "prod, every kind of secret": ("prod", REFS, "chorus-prod/admin-token"),
    "dev, no secrets": ("dev", [], None),
}

# Chalice's own output, reduced to what the merge and the override read: one function per queue
# (and the API's), each with a role policy holding Chalice's logs statement.
LOGS = {"Effect": "Allow", "Action": ["logs:CreateLogGroup"], "Resource": "arn:*:logs:*:*:*"}
HANDLERS = {
    "api": None,
    "ingest": "ingest_queue",
    "sync": "sync_queue",
    "ingest_dlq": "ingest_dlq",
    "sync_dlq": "sync_dlq",
}


def chalice_sam() -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for handler, queue in HANDLERS.items():
        name = handler.title().replace("_", "")
        events = {}
        if queue:
            arn = f"arn:${{AWS::Partition}}:sqs:${{AWS::Region}}:${{AWS::AccountId}}:{getattr(NAMES, queue)}"
            events[f"{name}SqsEventSource"] = {
                "Type": "SQS",
                "Properties": {"Queue": {"Fn::Sub": arn}, "BatchSize": 10},
            }
        resources[name] = {
            "Type": "AWS::Serverless::Function",
            "Properties": {"Timeout": 60, "Events": events},
        }
        resources[f"{name}Role"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Policies": [{"PolicyName": f"{name}Policy", "PolicyDocument": {"Statement": [LOGS]}}]
            },
        }
    return {"Resources": resources}


def chalice_tf() -> dict[str, Any]:
    functions, mappings, policies = {}, {}, {}
    for handler, queue in HANDLERS.items():
        functions[handler] = {"timeout": 60, "environment": {"variables": {"CHORUS_PREFIX": "chorus-prod"}}}
        policies[f"{handler}_role"] = {"policy": json.dumps({"Version": "2012-10-17", "Statement": [LOGS]})}
        if queue:
            mappings[f"{handler}-sqs-event-source"] = {
                "event_source_arn": f"arn:${{data.aws_partition.chalice.partition}}:sqs:x:y:{getattr(NAMES, queue)}",
                "function_name": f"${{aws_lambda_function.{handler}.arn}}",
            }
    return {
        "resource": {
            "aws_lambda_function": functions,
            "aws_lambda_event_source_mapping": mappings,
            "aws_iam_role_policy": policies,
        }
    }
