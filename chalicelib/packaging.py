"""`chorus package`: a deployable Chalice package with everything Chalice does not make.

Chalice wires handlers to queue names but creates no table, queue or bucket, and its SQS
event sources lack `ReportBatchItemFailures`. So this step:

1. copies the project (app.py, chalicelib/, vendor/, .chalice/) into a work folder and
   bundles the validated connector files into its chalicelib/_bundle/ (the source tree is
   never touched);
2. runs `chalice package` once to learn the logical ids Chalice generates, then writes the
   missing resources FROM the specs in runtime/resources.py (so the deployed table and queues
   cannot drift from the local ones), and turns on partial batch failures;
3. CloudFormation: runs `chalice package --merge-template` with that template.
   Terraform (no --merge-template there): writes chorus.tf.json (resources) and
   chorus_override.tf.json (a Terraform override file) beside chalice.tf.json;
4. checks the result (every SQS event source reports batch item failures, every role got
   the scoped policy, queue visibility >= 6x its consumer's timeout).

Runs in the build machine's Python, which is the Lambda runtime Chalice declares. pip runs as
a child process and inherits PIP_NO_INDEX / PIP_FIND_LINKS, so an offline build only needs a
manylinux wheelhouse (see docs/deploy.md).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config.loader import write_bundle
from .runtime.resources import (
    DLQ_RETENTION_SECONDS,
    MAX_RECEIVE_COUNT,
    QUEUE_VISIBILITY_SECONDS,
    TABLE_KEYS,
    TTL_ATTRIBUTE,
    ResourceNames,
)

FORMATS = ("cloudformation", "terraform")
MERGE_TEMPLATE = "chorus-resources.json"
TF_RESOURCES = "chorus.tf.json"
TF_OVERRIDE = "chorus_override.tf.json"
DELIVERY_EXPIRY_DAYS = 30  # oversized raw deliveries (claim checks) outlive the 14-day DLQ
VISIBILITY_FACTOR = 6  # AWS: queue visibility >= 6x the consuming function's timeout
PARTIAL_FAILURES = ["ReportBatchItemFailures"]

# TransactWriteItems (identity claims) is authorised per item: its Puts need dynamodb:PutItem
# ("Using IAM with DynamoDB transactions", DynamoDB developer guide).
DYNAMODB_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
]
SQS_ACTIONS = [
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ChangeMessageVisibility",
]
S3_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]  # delete: privacy erasure (S3Blobs.delete)

# (names attribute, CloudFormation logical id, Terraform name); main queues before their DLQs.
QUEUES = [
    ("ingest_dlq", "IngestDeadLetterQueue", "ingest_dlq"),
    ("sync_dlq", "SyncDeadLetterQueue", "sync_dlq"),
    ("ingest_queue", "IngestQueue", "ingest"),
    ("sync_queue", "SyncQueue", "sync"),
]
REDRIVE = {"ingest_queue": "ingest_dlq", "sync_queue": "sync_dlq"}
_COPIED = ("app.py", "requirements.txt", "chalicelib", "vendor")
_SECRET_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")


class PackagingError(Exception):
    """The package could not be built or does not hold what the deployment needs."""


@dataclass
class PackageResult:
    out: Path
    zip_path: Path
    zip_bytes: int
    seconds: float
    warnings: list[str] = field(default_factory=list)


def package(
    stage: str,
    out: str | os.PathLike,
    *,
    pkg_format: str = "cloudformation",
    config_dir: str | os.PathLike = "connectors",
    project_dir: str | os.PathLike = ".",
    work_dir: str | os.PathLike | None = None,
    allow_env_secrets: bool = False,
) -> PackageResult:
    """Build the deployable package of one stage. A secret read from an `env:` variable the stage
    does not set fails the build (every deployed webhook would answer 503), unless
    `allow_env_secrets` turns those into warnings (a package built only to be inspected).

    >>> package("prod", "build/package")                          # doctest: +SKIP
    >>> package("dev", "build/tf", pkg_format="terraform")         # doctest: +SKIP
    """
    started = time.monotonic()
    if pkg_format not in FORMATS:
        raise PackagingError(f"unknown format {pkg_format!r} (use {' or '.join(FORMATS)})")
    project = Path(project_dir).resolve()
    out = Path(out).resolve()
    work = Path(work_dir).resolve() if work_dir else project / "build" / f".chalice-{stage}"
    stage_env = _stage_environment(project, stage)
    names = ResourceNames.from_env(stage_env)

    _stage_project(project, work)
    bundle = write_bundle(config_dir, path=work / "chalicelib" / "_bundle" / "connectors.json")
    refs, warnings = _secret_references(bundle, stage_env)
    if warnings and not allow_env_secrets:
        raise PackagingError(
            "secrets no deployed function can read:\n  " + "\n  ".join(warnings) + "\n"
            "(--allow-env-secrets packages anyway, for a build that is only inspected)"
        )
    admin_secret = _created_admin_secret(stage_env)
    _clean_output(out)

    if pkg_format == "cloudformation":
        discovered = _chalice(work, stage, work / "discover")
        chalice_template = json.loads((discovered / "sam.json").read_text(encoding="utf-8"))
        merge = cloudformation_resources(chalice_template, names, stage, refs, admin_secret)
        merge_path = work / MERGE_TEMPLATE
        merge_path.write_text(json.dumps(merge, indent=2), encoding="utf-8")
        _chalice(work, stage, out, "--merge-template", str(merge_path))
        shutil.copy(merge_path, out / MERGE_TEMPLATE)
        check_cloudformation(json.loads((out / "sam.json").read_text(encoding="utf-8")))
    else:
        _chalice(work, stage, out, "--pkg-format", "terraform")
        chalice_tf = json.loads((out / "chalice.tf.json").read_text(encoding="utf-8"))
        resources, override = terraform_files(chalice_tf, names, stage, refs, admin_secret)
        (out / TF_RESOURCES).write_text(json.dumps(resources, indent=2), encoding="utf-8")
        (out / TF_OVERRIDE).write_text(json.dumps(override, indent=2), encoding="utf-8")
        check_terraform(chalice_tf, override)

    zip_path = out / "deployment.zip"
    return PackageResult(out, zip_path, zip_path.stat().st_size, time.monotonic() - started, warnings)


# --- the project copy and the chalice run --------------------------------------------------


def _stage_environment(project: Path, stage: str) -> dict[str, str]:
    config = json.loads((project / ".chalice" / "config.json").read_text(encoding="utf-8"))
    stages = config.get("stages") or {}
    if stage not in stages:
        raise PackagingError(f"stage {stage!r} is not in .chalice/config.json (stages: {', '.join(stages)})")
    return {
        **(config.get("environment_variables") or {}),
        **(stages[stage].get("environment_variables") or {}),
    }


# What only the local hub, the CLI and the build use: never imported on Lambda, never shipped.
LOCAL_ONLY = (
    "chalicelib/cli.py",
    "chalicelib/cli_*.py",
    "chalicelib/packaging.py",
    "chalicelib/runtime/local*.py",
    "chalicelib/store/sqlite.py",
    "chalicelib/store/sqlite_*.py",
    "chalicelib/store/blobs.py",
    "chalicelib/store/local.py",
)


def _ignore(project: Path) -> Callable[[str, list[str]], set[str]]:
    """shutil.copytree's ignore: caches, an old bundle, and the LOCAL_ONLY modules."""
    caches = shutil.ignore_patterns("__pycache__", "*.pyc", "_bundle")
    project = project.resolve()

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory).resolve().relative_to(project)
        local = {n for n in names if any(fnmatch.fnmatch((here / n).as_posix(), p) for p in LOCAL_ONLY)}
        return set(caches(directory, names)) | local

    return ignore


def _stage_project(project: Path, work: Path) -> None:
    """Fresh copy of the code and .chalice/*.json; .chalice/deployments (pip cache) is kept."""
    ignore = _ignore(project)
    (work / ".chalice").mkdir(parents=True, exist_ok=True)
    for name in _COPIED:
        target = work / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        source = project / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        elif source.is_file():
            shutil.copy(source, target)
    for stale in (work / ".chalice").glob("*.json"):
        stale.unlink()
    for source in (project / ".chalice").glob("*.json"):
        shutil.copy(source, work / ".chalice" / source.name)


def _clean_output(out: Path) -> None:
    """Remove what an earlier build left (only files this step writes)."""
    for name in ("sam.json", "deployment.zip", "chalice.tf.json", MERGE_TEMPLATE, TF_RESOURCES, TF_OVERRIDE):
        (out / name).unlink(missing_ok=True)


def _chalice(work: Path, stage: str, out: Path, *extra: str) -> Path:
    # Only the stage's variables name resources: a CHORUS_* left in this shell must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_")}
    if not (env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION")):
        env["AWS_DEFAULT_REGION"] = "us-east-1"  # chalice insists on one; the templates use the deploy region
    command = [
        sys.executable,
        "-c",
        "import sys; from chalice.cli import main; sys.exit(main())",
        "--project-dir",
        str(work),
        "package",
        "--stage",
        stage,
        *extra,
        str(out),
    ]
    done = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise PackagingError(f"chalice package failed (exit {done.returncode}):\n{tail}")
    # Chalice caches dependencies per hash of requirements + app code: keep only the newest.
    cached = sorted((work / ".chalice" / "deployments").glob("*.zip"), key=lambda p: p.stat().st_mtime)
    for stale in cached[:-1]:
        stale.unlink()
    return out


# --- secrets ------------------------------------------------------------------------------


def _secret_references(bundle: Path, stage_env: dict[str, str]) -> tuple[list[str], list[str]]:
    """Every ssm:/secretsmanager: reference the deployed functions read, and warnings for env: ones."""
    data = json.loads(bundle.read_text(encoding="utf-8"))
    refs: list[str] = []
    warnings: list[str] = []
    found = [
        (d["file"], f"secrets.{k}", v)
        for d in data["connectors"]
        for k, v in ((d["document"] or {}).get("secrets") or {}).items()
    ]
    found.append(
        (
            ".chalice/config.json",
            "CHORUS_ADMIN_TOKEN_REF",
            stage_env.get("CHORUS_ADMIN_TOKEN_REF", "env:CHORUS_ADMIN_TOKEN"),
        )
    )
    for where, name, ref in found:
        scheme, _, target = str(ref).partition(":")
        if scheme in ("ssm", "secretsmanager"):
            if ref not in refs:
                refs.append(ref)
        elif scheme == "env" and target not in stage_env:
            warnings.append(
                f"{where}: {name} is {ref}, which no function will have on AWS: "
                "use ssm:/path or secretsmanager:NAME"
            )
    return refs, warnings


def _created_admin_secret(stage_env: dict[str, str]) -> str | None:
    """The template creates the admin token secret when the stage names one by name (not ARN)."""
    scheme, _, target = stage_env.get("CHORUS_ADMIN_TOKEN_REF", "").partition(":")
    return target if scheme == "secretsmanager" and not target.startswith("arn:") else None


def _secret_arns(
    refs: list[str], admin_secret: str | None, account_arn: Callable[[str, str], Any], admin_arn: Any
) -> tuple[list[Any], list[Any]]:
    """(Secrets Manager ARNs, SSM parameter ARNs) for the references, in the format's syntax."""
    secrets: list[Any] = []
    parameters: list[Any] = []
    for ref in refs:
        scheme, _, target = ref.partition(":")
        if scheme == "secretsmanager":
            if target == admin_secret:
                secrets.append(admin_arn)
            elif target.startswith("arn:"):
                secrets.append(target if _SECRET_SUFFIX.search(target) else target + "-??????")
            else:
                secrets.append(account_arn("secretsmanager", f"secret:{target}-??????"))
        else:
            parameters.append(
                target if target.startswith("arn:") else account_arn("ssm", "parameter/" + target.lstrip("/"))
            )
    return secrets, parameters


def policy_statements(
    base: list[dict],
    table: Any,
    indexes: Any,
    queues: list[Any],
    objects: Any,
    secrets: list[Any],
    parameters: list[Any],
) -> list[dict]:
    """The one policy every function gets: the actions Chorus calls, on its own resources only."""
    statements = list(base) + [
        {"Sid": "ChorusTable", "Effect": "Allow", "Action": DYNAMODB_ACTIONS, "Resource": [table, indexes]},
        {"Sid": "ChorusQueues", "Effect": "Allow", "Action": SQS_ACTIONS, "Resource": queues},
        {"Sid": "ChorusDeliveries", "Effect": "Allow", "Action": S3_ACTIONS, "Resource": [objects]},
    ]
    if secrets:
        statements.append(
            {
                "Sid": "ChorusSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": secrets,
            }
        )
    if parameters:
        statements.append(
            {
                "Sid": "ChorusParameters",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter"],
                "Resource": parameters,
            }
        )
    return statements


def _check_visibility(timeouts: dict[str, int], consumers: dict[str, str]) -> None:
    """consumers: queue key -> function; timeouts: function -> seconds."""
    for queue, function in consumers.items():
        needed = VISIBILITY_FACTOR * timeouts[function]
        if QUEUE_VISIBILITY_SECONDS < needed:
            raise PackagingError(
                f"{function} has a {timeouts[function]} s timeout: the {queue} visibility "
                f"({QUEUE_VISIBILITY_SECONDS} s) must be at least {needed} s"
            )


# --- CloudFormation -----------------------------------------------------------------------


def cloudformation_resources(
    chalice_template: dict, names: ResourceNames, stage: str, refs: list[str], admin_secret: str | None
) -> dict:
    """The template merged into Chalice's SAM template (deep merge: dicts merge, lists replace)."""
    by_name = {getattr(names, key): (key, logical) for key, logical, _ in QUEUES}
    keep = "Delete" if stage == "dev" else "Retain"
    resources: dict[str, Any] = {
        "ChorusTable": {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": keep,
            "UpdateReplacePolicy": keep,
            "Properties": {
                "TableName": names.table,
                **TABLE_KEYS,
                "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            },
        },
        "DeliveriesBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": keep,
            "UpdateReplacePolicy": keep,
            "Properties": {
                "BucketName": {"Fn::Sub": names.bucket + "-${AWS::AccountId}-${AWS::Region}"},
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
                            "ExpirationInDays": DELIVERY_EXPIRY_DAYS,
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                        }
                    ]
                },
            },
        },
        "DeliveriesBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": "DeliveriesBucket"},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [
                                {"Fn::GetAtt": ["DeliveriesBucket", "Arn"]},
                                {"Fn::Sub": "${DeliveriesBucket.Arn}/*"},
                            ],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
    }
    for key, logical, _ in QUEUES:
        properties: dict[str, Any] = {
            "QueueName": getattr(names, key),
            "SqsManagedSseEnabled": True,
            "VisibilityTimeout": QUEUE_VISIBILITY_SECONDS,
        }
        if key in REDRIVE:
            dlq = next(lg for k, lg, _ in QUEUES if k == REDRIVE[key])
            properties["RedrivePolicy"] = {
                "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                "maxReceiveCount": MAX_RECEIVE_COUNT,
            }
        else:
            properties["MessageRetentionPeriod"] = DLQ_RETENTION_SECONDS
            resources.update(_dlq_alarms(logical))
        resources[logical] = {"Type": "AWS::SQS::Queue", "Properties": properties}
    admin_arn = None
    if admin_secret:
        admin_arn = {"Ref": "AdminTokenSecret"}
        resources["AdminTokenSecret"] = {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": admin_secret,
                "Description": f"Chorus {stage} admin API bearer token",
                "GenerateSecretString": {"PasswordLength": 48, "ExcludePunctuation": True},
            },
        }

    def account_arn(service: str, resource: str) -> dict:
        return {
            "Fn::Sub": f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}"
        }

    secrets, parameters = _secret_arns(refs, admin_secret, account_arn, admin_arn)
    environment = {
        "CHORUS_TABLE": {"Ref": "ChorusTable"},
        "CHORUS_BUCKET": {"Ref": "DeliveriesBucket"},
        "CHORUS_INGEST_QUEUE_URL": {"Ref": "IngestQueue"},
        "CHORUS_SYNC_QUEUE_URL": {"Ref": "SyncQueue"},
    }
    timeouts: dict[str, int] = {}
    consumers: dict[str, str] = {}
    for logical, resource in chalice_template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            policies = properties.get("Policies") or []
            base = policies[0]["PolicyDocument"]["Statement"] if policies else []
            statements = policy_statements(
                base,
                {"Fn::GetAtt": ["ChorusTable", "Arn"]},
                {"Fn::Sub": "${ChorusTable.Arn}/index/*"},
                [{"Fn::GetAtt": [lg, "Arn"]} for _, lg, _ in QUEUES],
                {"Fn::Sub": "${DeliveriesBucket.Arn}/*"},
                secrets,
                parameters,
            )
            resources[logical] = {
                "Properties": {
                    "Policies": [
                        {
                            "PolicyName": policies[0]["PolicyName"] if policies else f"{logical}Policy",
                            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                        }
                    ]
                }
            }
        elif resource["Type"] == "AWS::Serverless::Function":
            timeouts[logical] = properties.get("Timeout", 3)
            patch: dict[str, Any] = {"Environment": {"Variables": environment}}
            for event_id, event in (properties.get("Events") or {}).items():
                if event["Type"] != "SQS":
                    continue
                queue_name = _queue_name_of(event["Properties"]["Queue"])
                if queue_name not in by_name:
                    raise PackagingError(
                        f"{logical} listens on queue {queue_name!r}, which is not one of "
                        f"Chorus's ({', '.join(by_name)})"
                    )
                consumers[by_name[queue_name][0]] = logical
                # The queue stays Chalice's ARN by name (a deep merge cannot swap one intrinsic for
                # another); the Ref to the queues in Environment orders creation queue -> function -> mapping.
                patch.setdefault("Events", {})[event_id] = {
                    "Properties": {"FunctionResponseTypes": PARTIAL_FAILURES}
                }
            resources[logical] = {"Properties": patch}
    _check_visibility(timeouts, consumers)
    return {
        "Parameters": {
            "AlarmActionArn": {
                "Type": "String",
                "Default": "",
                "Description": "SNS topic (or other alarm action) notified when dead letters arrive; empty for none",
            }
        },
        "Conditions": {"HasAlarmAction": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmActionArn"}, ""]}]}},
        "Resources": resources,
        "Outputs": {
            "TableName": {"Value": {"Ref": "ChorusTable"}},
            "DeliveriesBucketName": {"Value": {"Ref": "DeliveriesBucket"}},
            **{f"{lg}Url": {"Value": {"Ref": lg}} for _, lg, _ in QUEUES},
            **({"AdminTokenSecretArn": {"Value": {"Ref": "AdminTokenSecret"}}} if admin_secret else {}),
        },
    }


def _queue_name_of(queue: Any) -> str:
    arn = queue.get("Fn::Sub") if isinstance(queue, dict) else queue
    if not isinstance(arn, str):
        raise PackagingError(f"unexpected SQS event source in the Chalice template: {queue!r}")
    return arn.rsplit(":", 1)[-1]


def _dlq_alarms(logical: str) -> dict[str, Any]:
    """Dead letters arrived (retries exhausted), and a dead-letter backlog (its consumer is failing)."""
    alarms = {}
    for suffix, metric, statistic, periods, what in (
        ("ArrivalAlarm", "NumberOfMessagesReceived", "Sum", 1, "dead letters arrived"),
        ("DepthAlarm", "ApproximateNumberOfMessagesVisible", "Maximum", 3, "dead letters are not drained"),
    ):
        alarms[logical + suffix] = {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": {"Fn::Sub": f"${{{logical}.QueueName}}: {what}"},
                "Namespace": "AWS/SQS",
                "MetricName": metric,
                "Statistic": statistic,
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [logical, "QueueName"]}}],
                "Period": 300,
                "EvaluationPeriods": periods,
                "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": {
                    "Fn::If": ["HasAlarmAction", [{"Ref": "AlarmActionArn"}], {"Ref": "AWS::NoValue"}]
                },
            },
        }
    return alarms


def check_cloudformation(template: dict) -> None:
    """Fail the build if a Chalice change made the merge miss a function, an event or a role."""
    for logical, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        for event_id, event in (properties.get("Events") or {}).items():
            if (
                event["Type"] == "SQS"
                and event["Properties"].get("FunctionResponseTypes") != PARTIAL_FAILURES
            ):
                raise PackagingError(f"{logical}.{event_id} does not report batch item failures")
        if resource["Type"] == "AWS::IAM::Role":
            sids = {
                s.get("Sid") for p in properties.get("Policies", []) for s in p["PolicyDocument"]["Statement"]
            }
            if "ChorusTable" not in sids:
                raise PackagingError(f"role {logical} did not get the Chorus policy")


# --- Terraform ----------------------------------------------------------------------------

_TF_ACCOUNT = (
    "arn:${data.aws_partition.chalice.partition}:%s:${data.aws_region.chalice.name}:"
    "${data.aws_caller_identity.chalice.account_id}:%s"
)


def terraform_files(
    chalice_tf: dict, names: ResourceNames, stage: str, refs: list[str], admin_secret: str | None
) -> tuple[dict, dict]:
    """(chorus.tf.json: the resources, chorus_override.tf.json: changes to Chalice's resources)."""
    protect = {"lifecycle": {"prevent_destroy": True}} if stage != "dev" else {}
    table = {
        "name": names.table,
        "billing_mode": TABLE_KEYS["BillingMode"],
        "hash_key": _key(TABLE_KEYS["KeySchema"], "HASH"),
        "range_key": _key(TABLE_KEYS["KeySchema"], "RANGE"),
        "attribute": [
            {"name": a["AttributeName"], "type": a["AttributeType"]}
            for a in TABLE_KEYS["AttributeDefinitions"]
        ],
        "global_secondary_index": [
            {
                "name": g["IndexName"],
                "hash_key": _key(g["KeySchema"], "HASH"),
                "range_key": _key(g["KeySchema"], "RANGE"),
                "projection_type": g["Projection"]["ProjectionType"],
            }
            for g in TABLE_KEYS["GlobalSecondaryIndexes"]
        ],
        "ttl": {"attribute_name": TTL_ATTRIBUTE, "enabled": True},
        "point_in_time_recovery": {"enabled": True},
        **protect,
    }
    queues: dict[str, Any] = {}
    alarms: dict[str, Any] = {}
    for key, _, tf in QUEUES:
        queue: dict[str, Any] = {
            "name": getattr(names, key),
            "visibility_timeout_seconds": QUEUE_VISIBILITY_SECONDS,
            "sqs_managed_sse_enabled": True,
        }
        if key in REDRIVE:
            dlq = next(t for k, _, t in QUEUES if k == REDRIVE[key])
            queue["redrive_policy"] = (
                f"${{jsonencode({{deadLetterTargetArn = aws_sqs_queue.{dlq}.arn, "
                f"maxReceiveCount = {MAX_RECEIVE_COUNT}}})}}"
            )
        else:
            queue["message_retention_seconds"] = DLQ_RETENTION_SECONDS
            for suffix, metric, statistic, periods in (
                ("arrivals", "NumberOfMessagesReceived", "Sum", 1),
                ("depth", "ApproximateNumberOfMessagesVisible", "Maximum", 3),
            ):
                alarms[f"{tf}_{suffix}"] = {
                    "alarm_name": f"{getattr(names, key)}-{suffix}",
                    "namespace": "AWS/SQS",
                    "metric_name": metric,
                    "statistic": statistic,
                    "period": 300,
                    "evaluation_periods": periods,
                    "threshold": 1,
                    "comparison_operator": "GreaterThanOrEqualToThreshold",
                    "treat_missing_data": "notBreaching",
                    "dimensions": {"QueueName": f"${{aws_sqs_queue.{tf}.name}}"},
                    "alarm_actions": '${var.alarm_action_arn == "" ? [] : [var.alarm_action_arn]}',
                }
        queues[tf] = queue
    bucket_ref = "${aws_s3_bucket.deliveries.id}"
    resources: dict[str, Any] = {
        "aws_dynamodb_table": {"chorus": table},
        "aws_sqs_queue": queues,
        "aws_cloudwatch_metric_alarm": alarms,
        "aws_s3_bucket": {
            "deliveries": {
                "bucket": f"{names.bucket}-${{data.aws_caller_identity.chalice.account_id}}-"
                "${data.aws_region.chalice.name}",
                **protect,
            }
        },
        "aws_s3_bucket_public_access_block": {
            "deliveries": {
                "bucket": bucket_ref,
                "block_public_acls": True,
                "block_public_policy": True,
                "ignore_public_acls": True,
                "restrict_public_buckets": True,
            }
        },
        "aws_s3_bucket_ownership_controls": {
            "deliveries": {"bucket": bucket_ref, "rule": {"object_ownership": "BucketOwnerEnforced"}}
        },
        "aws_s3_bucket_server_side_encryption_configuration": {
            "deliveries": {
                "bucket": bucket_ref,
                "rule": {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}},
            }
        },
        "aws_s3_bucket_lifecycle_configuration": {
            "deliveries": {
                "bucket": bucket_ref,
                "rule": {
                    "id": "expire-deliveries",
                    "status": "Enabled",
                    "filter": {},
                    "expiration": {"days": DELIVERY_EXPIRY_DAYS},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                },
            }
        },
        "aws_s3_bucket_policy": {
            "deliveries": {
                "bucket": bucket_ref,
                "policy": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "TlsOnly",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [
                                    "${aws_s3_bucket.deliveries.arn}",
                                    "${aws_s3_bucket.deliveries.arn}/*",
                                ],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    }
                ),
            }
        },
    }
    admin_arn = None
    if admin_secret:
        # The value is set once by the operator (see docs/deploy.md): Terraform state never holds it.
        resources["aws_secretsmanager_secret"] = {
            "admin_token": {"name": admin_secret, "description": f"Chorus {stage} admin API bearer token"}
        }
        admin_arn = "${aws_secretsmanager_secret.admin_token.arn}"
    secrets, parameters = _secret_arns(refs, admin_secret, lambda s, r: _TF_ACCOUNT % (s, r), admin_arn)
    chorus = {
        "variable": {
            "alarm_action_arn": {
                "type": "string",
                "default": "",
                "description": "alarm action (e.g. an SNS topic ARN) for dead letters",
            }
        },
        "resource": resources,
        "output": {
            "table_name": {"value": "${aws_dynamodb_table.chorus.name}"},
            "deliveries_bucket": {"value": "${aws_s3_bucket.deliveries.id}"},
            **{f"{tf}_queue_url": {"value": f"${{aws_sqs_queue.{tf}.url}}"} for _, _, tf in QUEUES},
        },
    }

    chalice_resources = chalice_tf["resource"]
    by_name = {getattr(names, key): (key, tf) for key, _, tf in QUEUES}
    environment = {
        "CHORUS_TABLE": "${aws_dynamodb_table.chorus.name}",
        "CHORUS_BUCKET": bucket_ref,
        "CHORUS_INGEST_QUEUE_URL": "${aws_sqs_queue.ingest.url}",
        "CHORUS_SYNC_QUEUE_URL": "${aws_sqs_queue.sync.url}",
    }
    functions = {}
    timeouts = {}
    for name, function in chalice_resources.get("aws_lambda_function", {}).items():
        timeouts[name] = function.get("timeout", 3)
        variables = {**(function.get("environment") or {}).get("variables", {}), **environment}
        functions[name] = {"environment": {"variables": variables}}  # an override replaces the whole block
    mappings = {}
    consumers = {}
    for name, mapping in chalice_resources.get("aws_lambda_event_source_mapping", {}).items():
        queue_name = mapping["event_source_arn"].rsplit(":", 1)[-1]
        if queue_name not in by_name:
            raise PackagingError(f"{name} listens on queue {queue_name!r}, which is not one of Chorus's")
        key, tf = by_name[queue_name]
        consumers[key] = mapping["function_name"].split(".")[1]
        mappings[name] = {
            "event_source_arn": f"${{aws_sqs_queue.{tf}.arn}}",
            "function_response_types": PARTIAL_FAILURES,
        }
    _check_visibility(timeouts, consumers)
    policies = {}
    for name, role_policy in chalice_resources.get("aws_iam_role_policy", {}).items():
        base = json.loads(role_policy["policy"]).get("Statement", [])
        statements = policy_statements(
            base,
            "${aws_dynamodb_table.chorus.arn}",
            "${aws_dynamodb_table.chorus.arn}/index/*",
            [f"${{aws_sqs_queue.{tf}.arn}}" for _, _, tf in QUEUES],
            "${aws_s3_bucket.deliveries.arn}/*",
            secrets,
            parameters,
        )
        policies[name] = {"policy": json.dumps({"Version": "2012-10-17", "Statement": statements})}
    override = {
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
    return chorus, override


def _key(schema: list[dict], key_type: str) -> str:
    return next(k["AttributeName"] for k in schema if k["KeyType"] == key_type)


def check_terraform(chalice_tf: dict, override: dict) -> None:
    """Every Chalice event source mapping and role policy is overridden."""
    for kind in ("aws_lambda_event_source_mapping", "aws_iam_role_policy", "aws_lambda_function"):
        missing = set(chalice_tf["resource"].get(kind, {})) - set(override["resource"][kind])
        if missing:
            raise PackagingError(f"no override for {kind} {', '.join(sorted(missing))}")
