"""CloudFormation and Terraform, rendered from the one description, declare the same resources:
each output is read back here into the same neutral summary (names, keys, settings, what every
reference points at), which must equal the summary written from runtime/resources.py by hand."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib.infra import cloudformation, terraform
from chalicelib.infra.description import DYNAMODB_ACTIONS, S3_ACTIONS, SQS_ACTIONS, describe
from chalicelib.runtime.resources import (
    DLQ_RETENTION_SECONDS,
    MAX_RECEIVE_COUNT,
    QUEUE_VISIBILITY_SECONDS,
    TABLE_KEYS,
    TTL_ATTRIBUTE,
)
from tests.infra.cases import CASES, HANDLERS, LOGS, NAMES, chalice_sam, chalice_tf

BUCKET = f"{NAMES.bucket}-<account>-<region>"


# --- reading CloudFormation back -----------------------------------------------------------


def _cfn_summary(template: dict[str, Any]) -> dict[str, Any]:
    resources = template["Resources"]

    def physical(logical: str) -> str:
        props = resources[logical]["Properties"]
        name = (
            props.get("TableName") or props.get("QueueName") or props.get("Name") or props.get("BucketName")
        )
        return _cfn_text(name["Fn::Sub"]) if isinstance(name, dict) else name

    def ref_attribute(logical: str) -> str:  # what Ref returns, per the CloudFormation resource docs
        return {"AWS::SQS::Queue": "url", "AWS::SecretsManager::Secret": "arn"}.get(
            resources[logical]["Type"], "name"
        )

    def _cfn_text(text: str) -> str:
        text = text.replace("${AWS::Partition}", "<partition>").replace("${AWS::Region}", "<region>")
        text = text.replace("${AWS::AccountId}", "<account>")
        text = re.sub(r"\$\{(\w+)\.Arn\}", lambda m: f"<arn:{physical(m[1])}>", text)
        return re.sub(r"\$\{(\w+)\}", lambda m: f"<{ref_attribute(m[1])}:{physical(m[1])}>", text)

    def read(value: Any) -> Any:
        if isinstance(value, str):
            return value
        if "Ref" in value:
            return f"<{ref_attribute(value['Ref'])}:{physical(value['Ref'])}>"
        if "Fn::GetAtt" in value:
            logical, attribute = value["Fn::GetAtt"]
            return f"<{ {'Arn': 'arn', 'QueueName': 'name'}[attribute] }:{physical(logical)}>"
        return _cfn_text(value["Fn::Sub"])

    of = _by_type(resources)
    (table,) = of["AWS::DynamoDB::Table"]
    t = table["Properties"]
    (bucket,) = of["AWS::S3::Bucket"]
    b = bucket["Properties"]
    (policy,) = of["AWS::S3::BucketPolicy"]
    rule = b["LifecycleConfiguration"]["Rules"][0]
    secrets = of.get("AWS::SecretsManager::Secret", [])
    return {
        "table": {
            "name": t["TableName"],
            "billing": t["BillingMode"],
            "attributes": {(a["AttributeName"], a["AttributeType"]) for a in t["AttributeDefinitions"]},
            "keys": _cfn_keys(t["KeySchema"]),
            "indexes": {
                i["IndexName"]: (*_cfn_keys(i["KeySchema"]), i["Projection"]["ProjectionType"])
                for i in t["GlobalSecondaryIndexes"]
            },
            "ttl": (t["TimeToLiveSpecification"]["AttributeName"], t["TimeToLiveSpecification"]["Enabled"]),
            "point_in_time_recovery": t["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
            "retained": table["DeletionPolicy"] == "Retain" == table["UpdateReplacePolicy"],
        },
        "queues": {
            q["Properties"]["QueueName"]: {
                "visibility": q["Properties"]["VisibilityTimeout"],
                "retention": q["Properties"].get("MessageRetentionPeriod"),
                "encrypted": q["Properties"]["SqsManagedSseEnabled"],
                "redrive": (
                    (
                        read(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]),
                        q["Properties"]["RedrivePolicy"]["maxReceiveCount"],
                    )
                    if "RedrivePolicy" in q["Properties"]
                    else None
                ),
            }
            for q in of["AWS::SQS::Queue"]
        },
        "alarms": {
            a["Properties"]["AlarmName"]: (
                a["Properties"]["AlarmDescription"],
                read(a["Properties"]["Dimensions"][0]["Value"]),
                a["Properties"]["MetricName"],
                a["Properties"]["Statistic"],
                a["Properties"]["EvaluationPeriods"],
                a["Properties"]["Period"],
                a["Properties"]["Threshold"],
                a["Properties"]["ComparisonOperator"],
                a["Properties"]["TreatMissingData"],
            )
            for a in of["AWS::CloudWatch::Alarm"]
        },
        "bucket": {
            "name": read(b["BucketName"]),
            "public_access_blocked": set(b["PublicAccessBlockConfiguration"].values()) == {True}
            and len(b["PublicAccessBlockConfiguration"]) == 4,
            "owner_enforced": b["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}],
            "encryption": b["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
                "ServerSideEncryptionByDefault"
            ]["SSEAlgorithm"],
            "expiry": (
                rule["Status"],
                rule["ExpirationInDays"],
                rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"],
            ),
            "policy": _policy(policy["Properties"]["PolicyDocument"], read),
            "policy_of": read(policy["Properties"]["Bucket"]),
            "retained": bucket["DeletionPolicy"] == "Retain" == bucket["UpdateReplacePolicy"],
        },
        "secrets": {s["Properties"]["Name"]: s["Properties"]["Description"] for s in secrets},
        "outputs": {_snake(name): read(o["Value"]) for name, o in template["Outputs"].items()},
    }


def _cfn_keys(schema: list[dict]) -> tuple[str, str]:
    by_type = {k["KeyType"]: k["AttributeName"] for k in schema}
    return by_type["HASH"], by_type["RANGE"]


# --- reading Terraform back ----------------------------------------------------------------


def _tf_summary(config: dict[str, Any]) -> dict[str, Any]:
    resources = config["resource"]

    def physical(kind: str, name: str) -> str:
        block = resources[kind][name]
        return read(block.get("bucket") or block["name"])

    def read(text: str) -> str:
        text = text.replace("${data.aws_partition.chalice.partition}", "<partition>")
        text = text.replace("${data.aws_region.chalice.name}", "<region>")
        text = text.replace("${data.aws_caller_identity.chalice.account_id}", "<account>")

        def attribute(match: re.Match) -> str:  # the aws provider's attribute reference names
            kind, name, attr = match[1], match[2], match[3]
            meaning = {"id": "name", "bucket": "name"}.get(attr, attr) if kind == "aws_s3_bucket" else attr
            return f"<{meaning}:{physical(kind, name)}>"

        return re.sub(r"\$\{(aws_\w+)\.(\w+)\.(\w+)\}", attribute, text)

    (table,) = resources["aws_dynamodb_table"].values()
    (bucket_name,) = resources["aws_s3_bucket"]
    bucket = resources["aws_s3_bucket"][bucket_name]
    per_bucket = {
        kind: resources[kind][bucket_name]
        for kind in (
            "aws_s3_bucket_public_access_block",
            "aws_s3_bucket_ownership_controls",
            "aws_s3_bucket_server_side_encryption_configuration",
            "aws_s3_bucket_lifecycle_configuration",
            "aws_s3_bucket_policy",
        )
    }
    assert len({read(b["bucket"]) for b in per_bucket.values()}) == 1  # all on the one bucket
    block = per_bucket["aws_s3_bucket_public_access_block"]
    rule = per_bucket["aws_s3_bucket_lifecycle_configuration"]["rule"]
    retained = table.get("lifecycle") == {"prevent_destroy": True}

    def redrive(queue: dict) -> tuple[str, int] | None:
        if "redrive_policy" not in queue:
            return None
        match = re.fullmatch(
            r"\$\{jsonencode\(\{deadLetterTargetArn = (aws_sqs_queue\.\w+\.arn), maxReceiveCount = (\d+)\}\)\}",
            queue["redrive_policy"],
        )
        assert match, queue["redrive_policy"]
        return read("${" + match[1] + "}"), int(match[2])

    return {
        "table": {
            "name": table["name"],
            "billing": table["billing_mode"],
            "attributes": {(a["name"], a["type"]) for a in table["attribute"]},
            "keys": (table["hash_key"], table["range_key"]),
            "indexes": {
                i["name"]: (i["hash_key"], i["range_key"], i["projection_type"])
                for i in table["global_secondary_index"]
            },
            "ttl": (table["ttl"]["attribute_name"], table["ttl"]["enabled"]),
            "point_in_time_recovery": table["point_in_time_recovery"]["enabled"],
            "retained": retained,
        },
        "queues": {
            q["name"]: {
                "visibility": q["visibility_timeout_seconds"],
                "retention": q.get("message_retention_seconds"),
                "encrypted": q["sqs_managed_sse_enabled"],
                "redrive": redrive(q),
            }
            for q in resources["aws_sqs_queue"].values()
        },
        "alarms": {
            a["alarm_name"]: (
                a["alarm_description"],
                read(a["dimensions"]["QueueName"]),
                a["metric_name"],
                a["statistic"],
                a["evaluation_periods"],
                a["period"],
                a["threshold"],
                a["comparison_operator"],
                a["treat_missing_data"],
            )
            for a in resources["aws_cloudwatch_metric_alarm"].values()
        },
        "bucket": {
            "name": read(bucket["bucket"]),
            "public_access_blocked": all(
                block[k] is True
                for k in (
                    "block_public_acls",
                    "block_public_policy",
                    "ignore_public_acls",
                    "restrict_public_buckets",
                )
            ),
            "owner_enforced": per_bucket["aws_s3_bucket_ownership_controls"]["rule"]
            == {"object_ownership": "BucketOwnerEnforced"},
            "encryption": per_bucket["aws_s3_bucket_server_side_encryption_configuration"]["rule"][
                "apply_server_side_encryption_by_default"
            ]["sse_algorithm"],
            "expiry": (
                rule["status"],
                rule["expiration"]["days"],
                rule["abort_incomplete_multipart_upload"]["days_after_initiation"],
            ),
            "policy": _policy(json.loads(per_bucket["aws_s3_bucket_policy"]["policy"]), read),
            "policy_of": read(per_bucket["aws_s3_bucket_policy"]["bucket"]),
            "retained": bucket.get("lifecycle") == {"prevent_destroy": True} and retained,
        },
        "secrets": {
            s["name"]: s["description"] for s in resources.get("aws_secretsmanager_secret", {}).values()
        },
        "outputs": {name: read(o["value"]) for name, o in config["output"].items()},
    }


# --- shared ---------------------------------------------------------------------------------


def _by_type(resources: dict[str, dict]) -> dict[str, list[dict]]:
    of: dict[str, list[dict]] = {}
    for resource in resources.values():
        if "Type" not in resource:  # a merge template's patch of one of Chalice's resources
            continue
        of.setdefault(resource["Type"], []).append(resource)
    return of


def _policy(document: dict, read: Any) -> dict[str, tuple]:
    assert document["Version"] == "2012-10-17"
    return {
        s["Sid"]: (
            s["Effect"],
            s.get("Principal"),
            tuple(s["Action"]) if isinstance(s["Action"], list) else (s["Action"],),
            tuple(read(r) for r in s["Resource"]),
            json.dumps(s.get("Condition"), sort_keys=True),
        )
        for s in document["Statement"]
    }


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()


def _expected(stage: str, refs: list[str], admin_secret: str | None) -> dict[str, Any]:
    """The summary both formats must have, written from the resource spec (not from the description)."""
    keys = TABLE_KEYS
    retained = stage != "dev"
    queues = {}
    for work, dlq in ((NAMES.ingest_queue, NAMES.ingest_dlq), (NAMES.sync_queue, NAMES.sync_dlq)):
        queues[work] = {
            "visibility": QUEUE_VISIBILITY_SECONDS,
            "retention": None,
            "encrypted": True,
            "redrive": (f"<arn:{dlq}>", MAX_RECEIVE_COUNT),
        }
        queues[dlq] = {
            "visibility": QUEUE_VISIBILITY_SECONDS,
            "retention": DLQ_RETENTION_SECONDS,
            "encrypted": True,
            "redrive": None,
        }
    alarms = {}
    for dlq in (NAMES.ingest_dlq, NAMES.sync_dlq):
        common = (300, 1, "GreaterThanOrEqualToThreshold", "notBreaching")
        alarms[f"{dlq}-arrivals"] = (
            f"{dlq}: dead letters arrived",
            f"<name:{dlq}>",
            "NumberOfMessagesReceived",
            "Sum",
            1,
            *common,
        )
        alarms[f"{dlq}-depth"] = (
            f"{dlq}: dead letters are not drained",
            f"<name:{dlq}>",
            "ApproximateNumberOfMessagesVisible",
            "Maximum",
            3,
            *common,
        )
    outputs = {
        "table_name": f"<name:{NAMES.table}>",
        "deliveries_bucket_name": f"<name:{BUCKET}>",
        **{
            f"{key}_url": f"<url:{getattr(NAMES, key)}>"
            for key in ("ingest_queue", "sync_queue", "ingest_dlq", "sync_dlq")
        },
    }
    secrets = {}
    if admin_secret:
        secrets[admin_secret] = f"Chorus {stage} admin API bearer token"
        outputs["admin_token_secret_arn"] = f"<arn:{admin_secret}>"
    return {
        "table": {
            "name": NAMES.table,
            "billing": "PAY_PER_REQUEST",
            "attributes": {(a["AttributeName"], a["AttributeType"]) for a in keys["AttributeDefinitions"]},
            "keys": ("pk", "sk"),
            "indexes": {"gsi1": ("gsi1pk", "gsi1sk", "ALL"), "gsi2": ("gsi2pk", "gsi2sk", "ALL")},
            "ttl": (TTL_ATTRIBUTE, True),
            "point_in_time_recovery": True,
            "retained": retained,
        },
        "queues": queues,
        "alarms": alarms,
        "bucket": {
            "name": BUCKET,
            "public_access_blocked": True,
            "owner_enforced": True,
            "encryption": "AES256",
            "expiry": ("Enabled", 30, 1),
            "policy": {
                "TlsOnly": (
                    "Deny",
                    "*",
                    ("s3:*",),
                    (f"<arn:{BUCKET}>", f"<arn:{BUCKET}>/*"),
                    json.dumps({"Bool": {"aws:SecureTransport": "false"}}),
                )
            },
            "policy_of": f"<name:{BUCKET}>",
            "retained": retained,
        },
        "secrets": secrets,
        "outputs": outputs,
    }


def _expected_statements(admin_secret: str | None, with_secrets: bool) -> dict[str, tuple]:
    statements = {
        "ChorusTable": (DYNAMODB_ACTIONS, (f"<arn:{NAMES.table}>", f"<arn:{NAMES.table}>/index/*")),
        "ChorusQueues": (
            SQS_ACTIONS,
            tuple(
                f"<arn:{q}>" for q in (NAMES.ingest_queue, NAMES.sync_queue, NAMES.ingest_dlq, NAMES.sync_dlq)
            ),
        ),
        "ChorusDeliveries": (S3_ACTIONS, (f"<arn:{BUCKET}>/*",)),
    }
    if with_secrets:
        account = "arn:<partition>:{}:<region>:<account>:{}"
        statements["ChorusSecrets"] = (
            ("secretsmanager:GetSecretValue",),
            (
                account.format("secretsmanager", "secret:chorus/hubspot-??????"),
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf",
                f"<arn:{admin_secret}>",
            ),
        )
        statements["ChorusParameters"] = (
            ("ssm:GetParameter",),
            (
                account.format("ssm", "parameter/chorus/prod/typeform"),
                "arn:aws:ssm:eu-west-1:123456789012:parameter/shared/x",
            ),
        )
    return statements


@pytest.mark.parametrize("case", CASES)
def test_both_formats_declare_the_resources_of_the_resource_spec(case):
    description = describe(NAMES, *CASES[case])
    expected = _expected(*CASES[case])
    cfn = _cfn_summary(cloudformation.render(description))
    tf = _tf_summary(terraform.render(description))
    assert cfn == expected
    assert tf == expected


@pytest.mark.parametrize("case", CASES)
def test_both_formats_give_every_function_the_same_policy_environment_and_partial_failures(case):
    stage, refs, admin_secret = CASES[case]
    description = describe(NAMES, stage, refs, admin_secret)
    merge = cloudformation.merge_template(chalice_sam(), description)
    sam_summary = _cfn_summary(merge)
    override = terraform.override(chalice_tf(), description)
    config = terraform.render(description)  # the override refers to its resources
    config["resource"].update(override["resource"])

    def cfn_read(value: Any) -> Any:
        return _cfn_summary({**merge, "Outputs": {"X": {"Value": value}}})["outputs"]["x"]

    def tf_read_value(value: str) -> str:
        return _tf_summary({**config, "output": {"x": {"value": value}}})["outputs"]["x"]

    expected = {
        sid: ("Allow", None, actions, resources, "null")
        for sid, (actions, resources) in _expected_statements(admin_secret, bool(refs)).items()
    }
    expected_environment = {
        "CHORUS_TABLE": f"<name:{NAMES.table}>",
        "CHORUS_BUCKET": f"<name:{BUCKET}>",
        "CHORUS_INGEST_QUEUE_URL": f"<url:{NAMES.ingest_queue}>",
        "CHORUS_SYNC_QUEUE_URL": f"<url:{NAMES.sync_queue}>",
    }
    roles = [r for r in merge["Resources"].values() if "Policies" in r.get("Properties", {})]
    assert len(roles) == len(HANDLERS)
    for role in roles:
        document = role["Properties"]["Policies"][0]["PolicyDocument"]
        statements = document["Statement"]
        assert statements[0] == LOGS  # Chalice's own statement is kept
        assert _policy({**document, "Statement": statements[1:]}, cfn_read) == expected
    for name, policy in override["resource"]["aws_iam_role_policy"].items():
        document = json.loads(policy["policy"])
        assert document["Statement"][0] == LOGS, name
        assert _policy({**document, "Statement": document["Statement"][1:]}, tf_read_value) == expected

    functions = [
        r["Properties"] for r in merge["Resources"].values() if "Environment" in r.get("Properties", {})
    ]
    assert len(functions) == len(HANDLERS)
    for function in functions:
        assert {
            k: cfn_read(v) for k, v in function["Environment"]["Variables"].items()
        } == expected_environment
    for function in override["resource"]["aws_lambda_function"].values():
        variables = {k: tf_read_value(v) for k, v in function["environment"]["variables"].items()}
        assert variables == {**expected_environment, "CHORUS_PREFIX": "chorus-prod"}

    sam_events = [
        (logical, event)
        for logical, r in merge["Resources"].items()
        for event in r.get("Properties", {}).get("Events", {}).values()
    ]
    assert len(sam_events) == len(override["resource"]["aws_lambda_event_source_mapping"]) == 4
    assert all(e["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for _, e in sam_events)
    mapped = {
        tf_read_value(m["event_source_arn"])
        for m in override["resource"]["aws_lambda_event_source_mapping"].values()
    }
    assert mapped == {f"<arn:{q}>" for q in sam_summary["queues"]}
    for m in override["resource"]["aws_lambda_event_source_mapping"].values():
        assert m["function_response_types"] == ["ReportBatchItemFailures"]
