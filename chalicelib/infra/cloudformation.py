"""The description as CloudFormation: the template `chalice package --merge-template` merges into
Chalice's SAM template (a deep merge: dicts merge, lists replace)."""

from __future__ import annotations

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

ALARM_PARAMETER = "AlarmActionArn"
_HAS_ALARM_ACTION = "HasAlarmAction"


def value(ref: ArnValue) -> Any:
    """A reference in CloudFormation's syntax (Ref, Fn::GetAtt or Fn::Sub)."""
    if isinstance(ref, str):
        return ref
    if isinstance(ref, AccountArn):
        return {
            "Fn::Sub": f"arn:${{AWS::Partition}}:{ref.service}:${{AWS::Region}}:${{AWS::AccountId}}:{ref.resource}"
        }
    logical = ref.resource.id.cloudformation
    # Ref gives a table's and bucket's name, a queue's URL, a secret's ARN
    by_ref = {Table: "name", Bucket: "name", Queue: "url", Secret: "arn"}[type(ref.resource)]
    if ref.attribute == by_ref:
        if ref.suffix:
            return {"Fn::Sub": f"${{{logical}}}{ref.suffix}"}
        return {"Ref": logical}
    attribute = {"arn": "Arn", "name": "QueueName"}[ref.attribute]
    if ref.suffix:
        return {"Fn::Sub": f"${{{logical}.{attribute}}}{ref.suffix}"}
    return {"Fn::GetAtt": [logical, attribute]}


def render(description: Description) -> dict[str, Any]:
    """Parameters, Conditions, Resources and Outputs of Chorus's own resources."""
    keep = "Retain" if description.retain else "Delete"
    protected = {"DeletionPolicy": keep, "UpdateReplacePolicy": keep}
    resources: dict[str, Any] = {}
    table = description.table
    resources[table.id.cloudformation] = {
        "Type": "AWS::DynamoDB::Table",
        **protected,
        "Properties": _table(table),
    }
    bucket = description.bucket
    resources[bucket.id.cloudformation] = {
        "Type": "AWS::S3::Bucket",
        **protected,
        "Properties": _bucket(bucket),
    }
    resources[bucket.id.cloudformation + "Policy"] = {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": bucket.id.cloudformation},
            "PolicyDocument": tls_only(bucket, value),
        },
    }
    for queue in description.queues:
        resources[queue.id.cloudformation] = {"Type": "AWS::SQS::Queue", "Properties": _queue(queue)}
    for alarm in description.alarms:
        resources[alarm.id.cloudformation] = {"Type": "AWS::CloudWatch::Alarm", "Properties": _alarm(alarm)}
    secret = description.admin_secret
    if secret:
        resources[secret.id.cloudformation] = {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": secret.name,
                "Description": secret.description,
                "GenerateSecretString": {"PasswordLength": 48, "ExcludePunctuation": True},
            },
        }
    return {
        "Parameters": {
            ALARM_PARAMETER: {
                "Type": "String",
                "Default": "",
                "Description": "SNS topic (or other alarm action) notified when dead letters arrive; empty for none",
            }
        },
        "Conditions": {_HAS_ALARM_ACTION: {"Fn::Not": [{"Fn::Equals": [{"Ref": ALARM_PARAMETER}, ""]}]}},
        "Resources": resources,
        "Outputs": {_camel(name): {"Value": value(ref)} for name, ref in description.outputs.items()},
    }


def merge_template(chalice_template: dict[str, Any], description: Description) -> dict[str, Any]:
    """render() plus what Chalice's functions and roles need: the resources' environment, the
    scoped policy and partial batch failures on every SQS event source."""
    merge = render(description)
    resources = merge["Resources"]
    environment = {name: value(ref) for name, ref in description.environment.items()}
    timeouts: dict[str, int] = {}
    consumers: dict[Queue, str] = {}
    for logical, resource in chalice_template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            policies = properties.get("Policies") or []
            base = policies[0]["PolicyDocument"]["Statement"] if policies else []
            name = policies[0]["PolicyName"] if policies else f"{logical}Policy"
            document = policy_document(description, list(base), value)
            resources[logical] = {
                "Properties": {"Policies": [{"PolicyName": name, "PolicyDocument": document}]}
            }
        elif resource["Type"] == "AWS::Serverless::Function":
            timeouts[logical] = properties.get("Timeout", 3)
            patch: dict[str, Any] = {"Environment": {"Variables": environment}}
            for event_id, event in (properties.get("Events") or {}).items():
                if event["Type"] != "SQS":
                    continue
                consumers[description.queue_named(_queue_name_of(event["Properties"]["Queue"]))] = logical
                # The queue stays Chalice's ARN by name (a deep merge cannot swap one intrinsic for
                # another); the Ref to the queues in Environment orders creation queue -> function -> mapping.
                patch.setdefault("Events", {})[event_id] = {
                    "Properties": {"FunctionResponseTypes": PARTIAL_FAILURES}
                }
            resources[logical] = {"Properties": patch}
    description.check_visibility(timeouts, consumers)
    return merge


def check(template: dict[str, Any]) -> None:
    """Fail the build if a Chalice change made the merge miss a function, an event or a role."""
    for logical, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for event_id, event in (properties.get("Events") or {}).items():
            if (
                event["Type"] == "SQS"
                and event["Properties"].get("FunctionResponseTypes") != PARTIAL_FAILURES
            ):
                raise DescriptionError(f"{logical}.{event_id} does not report batch item failures")
        if resource["Type"] == "AWS::IAM::Role":
            sids = {
                s.get("Sid") for p in properties.get("Policies", []) for s in p["PolicyDocument"]["Statement"]
            }
            if "ChorusTable" not in sids:
                raise DescriptionError(f"role {logical} did not get the Chorus policy")


def _table(table: Table) -> dict[str, Any]:
    def keys(hash_key: str, range_key: str) -> list[dict[str, str]]:
        return [
            {"AttributeName": hash_key, "KeyType": "HASH"},
            {"AttributeName": range_key, "KeyType": "RANGE"},
        ]

    return {
        "TableName": table.name,
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in table.attributes],
        "KeySchema": keys(table.hash_key, table.range_key),
        "GlobalSecondaryIndexes": [
            {
                "IndexName": i.name,
                "Projection": {"ProjectionType": i.projection},
                "KeySchema": keys(i.hash_key, i.range_key),
            }
            for i in table.indexes
        ],
        "BillingMode": table.billing_mode,
        "TimeToLiveSpecification": {"AttributeName": table.ttl_attribute, "Enabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    }


def _bucket(bucket: Bucket) -> dict[str, Any]:
    return {
        "BucketName": {"Fn::Sub": bucket.name_prefix + "-${AWS::AccountId}-${AWS::Region}"},
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
            ]
        },
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        },
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "LifecycleConfiguration": {
            "Rules": [
                {
                    "Id": "expire-deliveries",
                    "Status": "Enabled",
                    "ExpirationInDays": bucket.expiry_days,
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": bucket.abort_multipart_days},
                }
            ]
        },
    }


def _queue(queue: Queue) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "QueueName": queue.name,
        "SqsManagedSseEnabled": True,
        "VisibilityTimeout": queue.visibility_seconds,
    }
    if queue.retention_seconds is not None:
        properties["MessageRetentionPeriod"] = queue.retention_seconds
    if queue.dead_letter is not None:
        properties["RedrivePolicy"] = {
            "deadLetterTargetArn": value(Attr(queue.dead_letter, "arn")),
            "maxReceiveCount": queue.max_receive_count,
        }
    return properties


def _alarm(alarm: Alarm) -> dict[str, Any]:
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "Namespace": "AWS/SQS",
        "MetricName": alarm.metric,
        "Statistic": alarm.statistic,
        "Dimensions": [{"Name": "QueueName", "Value": value(Attr(alarm.queue, "name"))}],
        "Period": ALARM_PERIOD_SECONDS,
        "EvaluationPeriods": alarm.periods,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": {"Fn::If": [_HAS_ALARM_ACTION, [{"Ref": ALARM_PARAMETER}], {"Ref": "AWS::NoValue"}]},
    }


def _queue_name_of(queue: Any) -> str:
    arn = queue.get("Fn::Sub") if isinstance(queue, dict) else queue
    if not isinstance(arn, str):
        raise DescriptionError(f"unexpected SQS event source in the Chalice template: {queue!r}")
    return arn.rsplit(":", 1)[-1]


def _camel(snake: str) -> str:
    return "".join(part.title() for part in snake.split("_"))
