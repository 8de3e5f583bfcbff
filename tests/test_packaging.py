"""`chorus package`: the deployable package and its template hold what the functions need.

One session build per format (chalice fetches manylinux wheels from the index or from
PIP_FIND_LINKS); every test reads those builds.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from chalicelib.infra import cloudformation
from chalicelib.infra.description import (
    DYNAMODB_ACTIONS,
    S3_ACTIONS,
    SQS_ACTIONS,
    DescriptionError,
    describe,
)
from chalicelib.runtime.resources import (
    MAX_RECEIVE_COUNT,
    QUEUE_VISIBILITY_SECONDS,
    TABLE_KEYS,
    ResourceNames,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CONNECTORS = ROOT / "connectors"
BIN = Path(sys.executable).parent
DEV = ResourceNames.from_env({"CHORUS_PREFIX": "chorus-dev"})


def _clean_env() -> dict[str, str]:
    """The packaging shell: none of the test run's CHORUS_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_")}


def _chorus(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", *args],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="session")
def builds(tmp_path_factory):
    """{'cloudformation': out dir, 'terraform': out dir}, built by the CLI into temp folders."""
    base = tmp_path_factory.mktemp("package")
    bundle_in_tree = ROOT / "chalicelib" / "_bundle"
    existed = bundle_in_tree.exists()
    outs = {}
    for fmt in ("cloudformation", "terraform"):
        done = _chorus(
            "package",
            "--stage",
            "dev",
            "--out",
            str(base / fmt),
            "--pkg-format",
            fmt,
            "--config-dir",
            str(CONNECTORS),
            "--work-dir",
            str(base / "work"),
            "--allow-env-secrets",  # the test connectors read env: secrets
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "deployment.zip" in done.stdout
        outs[fmt] = base / fmt
    outs["bundle_created_in_tree"] = bundle_in_tree.exists() and not existed
    outs["chalice_only"] = base / "work" / "discover"  # Chalice's own template, before the merge
    return outs


@pytest.fixture(scope="session")
def template(builds):
    return json.loads((builds["cloudformation"] / "sam.json").read_text())


@pytest.fixture(scope="session")
def chalice_template(builds):
    return json.loads((builds["chalice_only"] / "sam.json").read_text())


def _of_type(template: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _sqs_events(template: dict):
    for logical, function in _of_type(template, "AWS::Serverless::Function").items():
        for event_id, event in (function["Properties"].get("Events") or {}).items():
            if event["Type"] == "SQS":
                yield logical, event_id, event["Properties"]


# --- CloudFormation ------------------------------------------------------------------------


def test_table_has_the_keys_both_indexes_ttl_and_backups_and_no_stream(template):
    table = template["Resources"]["ChorusTable"]
    props = table["Properties"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert props["TableName"] == DEV.table
    assert props["KeySchema"] == TABLE_KEYS["KeySchema"]
    assert props["AttributeDefinitions"] == TABLE_KEYS["AttributeDefinitions"]
    assert sorted(i["IndexName"] for i in props["GlobalSecondaryIndexes"]) == ["gsi1", "gsi2"]
    assert props["GlobalSecondaryIndexes"] == TABLE_KEYS["GlobalSecondaryIndexes"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert "StreamSpecification" not in props  # nothing reads one, and it kept erased data 24 h
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_four_queues_main_ones_redrive_to_their_dead_letter_queues(template):
    queues = {
        q["Properties"]["QueueName"]: (k, q["Properties"])
        for k, q in _of_type(template, "AWS::SQS::Queue").items()
    }
    assert set(queues) == {DEV.ingest_queue, DEV.sync_queue, DEV.ingest_dlq, DEV.sync_dlq}
    for main, dlq in ((DEV.ingest_queue, DEV.ingest_dlq), (DEV.sync_queue, DEV.sync_dlq)):
        redrive = queues[main][1]["RedrivePolicy"]
        assert redrive == {
            "deadLetterTargetArn": {"Fn::GetAtt": [queues[dlq][0], "Arn"]},
            "maxReceiveCount": MAX_RECEIVE_COUNT,
        }
        assert "RedrivePolicy" not in queues[dlq][1]
        assert queues[dlq][1]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_queue_visibility_is_at_least_six_times_the_consumer_timeout(template):
    functions = template["Resources"]
    for logical, _, props in _sqs_events(template):
        queue_name = props["Queue"]["Fn::Sub"].rsplit(":", 1)[1]
        queue = next(
            q
            for q in _of_type(template, "AWS::SQS::Queue").values()
            if q["Properties"]["QueueName"] == queue_name
        )
        assert queue["Properties"]["VisibilityTimeout"] == QUEUE_VISIBILITY_SECONDS
        assert QUEUE_VISIBILITY_SECONDS >= 6 * functions[logical]["Properties"]["Timeout"]


def test_every_sqs_event_source_reports_batch_item_failures(template):
    events = list(_sqs_events(template))
    queues = sorted(props["Queue"]["Fn::Sub"].rsplit(":", 1)[1] for _, _, props in events)
    assert queues == sorted([DEV.ingest_queue, DEV.sync_queue, DEV.ingest_dlq, DEV.sync_dlq])
    for _, _, props in events:
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_function_timeouts_and_resource_environment(template):
    functions = _of_type(template, "AWS::Serverless::Function")
    handlers = {f["Properties"]["Handler"]: f["Properties"] for f in functions.values()}
    assert handlers["app.app"]["Timeout"] <= 10  # ingest answers within seconds
    assert handlers["app.process_ingest"]["Timeout"] == 60
    assert handlers["app.process_sync"]["Timeout"] == 60
    for props in handlers.values():
        env = props["Environment"]["Variables"]
        assert env["CHORUS_PREFIX"] == "chorus-dev"
        assert env["CHORUS_TABLE"] == {"Ref": "ChorusTable"}
        assert env["CHORUS_BUCKET"] == {"Ref": "DeliveriesBucket"}
        assert env["CHORUS_INGEST_QUEUE_URL"] == {"Ref": "IngestQueue"}
        assert env["CHORUS_SYNC_QUEUE_URL"] == {"Ref": "SyncQueue"}
        assert env["CHORUS_ADMIN_TOKEN_REF"] == "secretsmanager:chorus-dev/admin-token"
        assert props["Runtime"] == f"python{sys.version_info.major}.{sys.version_info.minor}"


def test_bucket_is_private_encrypted_tls_only_and_expires_deliveries(template):
    bucket = template["Resources"]["DeliveriesBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    rule = bucket["LifecycleConfiguration"]["Rules"][0]
    assert rule["Status"] == "Enabled" and rule["ExpirationInDays"] >= 14
    deny = template["Resources"]["DeliveriesBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_dead_letter_queues_have_alarms(template):
    alarms = _of_type(template, "AWS::CloudWatch::Alarm").values()
    watched = {
        (a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0], a["Properties"]["MetricName"])
        for a in alarms
    }
    for dlq in ("IngestDeadLetterQueue", "SyncDeadLetterQueue"):
        assert (dlq, "ApproximateNumberOfMessagesVisible") in watched
        assert (dlq, "NumberOfMessagesReceived") in watched


def test_admin_token_secret_is_created_and_only_it_is_readable(template):
    secret = template["Resources"]["AdminTokenSecret"]
    assert secret["Properties"]["Name"] == "chorus-dev/admin-token"
    assert "GenerateSecretString" in secret["Properties"]
    for role in _of_type(template, "AWS::IAM::Role").values():
        statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        secrets = [s for s in statements if any(a.startswith("secretsmanager:") for a in s["Action"])]
        assert secrets == [
            {
                "Sid": "ChorusSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [{"Ref": "AdminTokenSecret"}],
            }
        ]


def test_iam_grants_only_the_used_actions_on_chorus_resources(template):
    allowed = {
        "dynamodb": set(DYNAMODB_ACTIONS),
        "sqs": set(SQS_ACTIONS),
        "s3": set(S3_ACTIONS),
        "secretsmanager": {"secretsmanager:GetSecretValue"},
        "ssm": {"ssm:GetParameter"},
        "logs": {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
    }
    roles = _of_type(template, "AWS::IAM::Role")
    assert len(roles) == len(_of_type(template, "AWS::Serverless::Function"))
    for name, role in roles.items():
        for statement in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            services = {a.split(":")[0] for a in actions}
            assert len(services) == 1, statement
            service = services.pop()
            assert set(actions) <= allowed[service], (name, actions)
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            assert "*" not in resources
            text = json.dumps(resources)
            if service == "dynamodb":
                assert resources == [
                    {"Fn::GetAtt": ["ChorusTable", "Arn"]},
                    {"Fn::Sub": "${ChorusTable.Arn}/index/*"},
                ]
            elif service == "sqs":
                assert sorted(r["Fn::GetAtt"][0] for r in resources) == sorted(
                    ["IngestQueue", "SyncQueue", "IngestDeadLetterQueue", "SyncDeadLetterQueue"]
                )
            elif service == "s3":
                assert resources == [{"Fn::Sub": "${DeliveriesBucket.Arn}/*"}]
            elif service == "logs":
                assert "log-group:/aws/lambda/" in text


def test_every_dynamodb_call_of_the_store_is_granted():
    source = (Path(__file__).parent.parent / "chalicelib" / "store" / "dynamodb.py").read_text()
    calls = set(re.findall(r"_db\.([a-z_]+)\(", source))
    assert set(re.findall(r'\{"(Put|Update|Delete|ConditionCheck)": ', source)) == {
        "Put"
    }  # transaction items
    needed = {
        "dynamodb:" + "".join(w.title() for w in call.split("_")) for call in calls - {"transact_write_items"}
    }
    assert needed <= set(DYNAMODB_ACTIONS), needed - set(DYNAMODB_ACTIONS)
    assert "dynamodb:PutItem" in DYNAMODB_ACTIONS  # what a transaction of Puts needs


def test_template_passes_cfn_lint(builds):
    done = subprocess.run(
        [str(BIN / "cfn-lint"), str(builds["cloudformation"] / "sam.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_merge_template_is_kept_beside_the_package(builds):
    merge = json.loads((builds["cloudformation"] / "chorus-resources.json").read_text())
    assert {"ChorusTable", "IngestQueue", "SyncQueue", "DeliveriesBucket"} <= set(merge["Resources"])


# --- the zip -------------------------------------------------------------------------------


LOCAL_ONLY_FILES = {
    "chalicelib/cli.py",
    "chalicelib/packaging.py",
    "chalicelib/store/sqlite.py",
    "chalicelib/store/blobs.py",
    "chalicelib/store/local.py",
    "chalicelib/runtime/moto_patches.py",
}


def test_zip_holds_the_connector_bundle_and_no_boto3_and_is_small(builds):
    path = builds["cloudformation"] / "deployment.zip"
    names = zipfile.ZipFile(path).namelist()
    assert "app.py" in names
    assert "chalicelib/_bundle/connectors.json" in names
    assert not [n for n in names if n.split("/")[0] in ("boto3", "botocore", "s3transfer", "moto")]
    assert not [n for n in names if n.endswith(".pyc") or n.startswith(("tests/", "connectors/", "bench/"))]
    # the local hub, CLI and build tools stay home; what Lambda runs is all there
    local_only = [
        n
        for n in names
        if fnmatch.fnmatch(n, "chalicelib/runtime/local*")
        or n.startswith("chalicelib/infra/")
        or n in LOCAL_ONLY_FILES
    ]
    assert local_only == []
    assert {"chalicelib/runtime/aws.py", "chalicelib/store/dynamodb.py", "chalicelib/store/base.py"} <= set(
        names
    )
    assert path.stat().st_size < 10 * 1024 * 1024


def test_packaged_app_imports_and_finds_the_connectors_without_a_config_dir(builds, tmp_path):
    zipfile.ZipFile(builds["cloudformation"] / "deployment.zip").extractall(tmp_path)
    expected = sorted(
        doc["id"]
        for doc in (
            yaml.safe_load(p.read_text()) for p in CONNECTORS.glob("*.y*ml") if p.name != "settings.yaml"
        )
        if doc.get("enabled", True)
    )
    code = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); import app; "
        "from chalicelib.config.loader import load_bundle, BUNDLE_PATH; "
        "assert str(BUNDLE_PATH).startswith(sys.argv[1]), BUNDLE_PATH; "
        "print(json.dumps(sorted(load_bundle().connectors)))"
    )
    env = {**_clean_env(), "CHORUS_PREFIX": "chorus-dev"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected


def test_build_leaves_the_source_tree_alone(builds):
    assert not builds["bundle_created_in_tree"]
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "chalicelib/_bundle/connectors.json"], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0


# --- Terraform -----------------------------------------------------------------------------


def test_terraform_declares_resources_and_overrides_every_chalice_mapping(builds):
    out = builds["terraform"]
    chalice_tf = json.loads((out / "chalice.tf.json").read_text())
    chorus = json.loads((out / "chorus.tf.json").read_text())["resource"]
    override = json.loads((out / "chorus_override.tf.json").read_text())["resource"]
    table = chorus["aws_dynamodb_table"]["chorus"]
    assert table["name"] == DEV.table
    assert [g["name"] for g in table["global_secondary_index"]] == ["gsi1", "gsi2"]
    assert table["ttl"] == {"attribute_name": "ttl", "enabled": True}
    assert "stream_enabled" not in table and "stream_view_type" not in table
    queues = chorus["aws_sqs_queue"]
    assert {q["name"] for q in queues.values()} == {
        DEV.ingest_queue,
        DEV.sync_queue,
        DEV.ingest_dlq,
        DEV.sync_dlq,
    }
    assert f"maxReceiveCount = {MAX_RECEIVE_COUNT}" in queues["ingest"]["redrive_policy"]
    assert "aws_sqs_queue.ingest_dlq.arn" in queues["ingest"]["redrive_policy"]
    assert "aws_sqs_queue.sync_dlq.arn" in queues["sync"]["redrive_policy"]
    assert {"deliveries"} == set(chorus["aws_s3_bucket"]) == set(chorus["aws_s3_bucket_public_access_block"])
    assert len(chorus["aws_cloudwatch_metric_alarm"]) == 4

    mappings = chalice_tf["resource"]["aws_lambda_event_source_mapping"]
    assert len(mappings) == 4
    for name in mappings:
        assert override["aws_lambda_event_source_mapping"][name]["function_response_types"] == [
            "ReportBatchItemFailures"
        ]
        assert override["aws_lambda_event_source_mapping"][name]["event_source_arn"].startswith(
            "${aws_sqs_queue."
        )
    for name, _function in chalice_tf["resource"]["aws_lambda_function"].items():
        variables = override["aws_lambda_function"][name]["environment"]["variables"]
        assert variables["CHORUS_PREFIX"] == "chorus-dev"  # Chalice's variables survive the override
        assert variables["CHORUS_INGEST_QUEUE_URL"] == "${aws_sqs_queue.ingest.url}"
    for name in chalice_tf["resource"]["aws_iam_role_policy"]:
        policy = json.loads(override["aws_iam_role_policy"][name]["policy"])
        for statement in policy["Statement"]:
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            assert "*" not in resources
        table_statement = next(s for s in policy["Statement"] if s["Sid"] == "ChorusTable")
        assert table_statement["Resource"] == [
            "${aws_dynamodb_table.chorus.arn}",
            "${aws_dynamodb_table.chorus.arn}/index/*",
        ]


# --- secrets and failures (no chalice run) ------------------------------------------------


def test_connector_secret_references_become_exact_grants(chalice_template):
    refs = [
        "ssm:/chorus/prod/typeform",
        "secretsmanager:chorus/hubspot",
        "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf",
        "secretsmanager:chorus-dev/admin-token",
    ]
    merge = cloudformation.merge_template(
        chalice_template, describe(DEV, "prod", refs, "chorus-dev/admin-token")
    )
    role = next(v for k, v in merge["Resources"].items() if k.endswith("Role"))
    statements = {s["Sid"]: s for s in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}
    assert statements["ChorusParameters"]["Resource"] == [
        {
            "Fn::Sub": (
                "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/chorus/prod/typeform"
            )
        }
    ]
    assert statements["ChorusSecrets"]["Resource"] == [
        {
            "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:chorus/hubspot-??????"
        },
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf",
        {"Ref": "AdminTokenSecret"},
    ]
    assert merge["Resources"]["ChorusTable"]["DeletionPolicy"] == "Retain"  # data outlives a prod stack


def test_a_queue_chorus_does_not_declare_is_refused(chalice_template):
    changed = json.loads(json.dumps(chalice_template))
    _, _, props = next(_sqs_events(changed))
    props["Queue"] = {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:someone-elses"}
    with pytest.raises(DescriptionError, match="someone-elses"):
        cloudformation.merge_template(changed, describe(DEV, "dev", [], None))


def test_check_refuses_an_sqs_event_without_partial_failures(template):
    changed = json.loads(json.dumps(template))
    _, _, props = next(_sqs_events(changed))
    del props["FunctionResponseTypes"]
    with pytest.raises(DescriptionError, match="batch item failures"):
        cloudformation.check(changed)


def test_invalid_connectors_or_unknown_stage_fail_before_building(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.yaml").write_text("id: broken\nprovider: no-such-provider\n")
    done = _chorus(
        "package",
        "--stage",
        "dev",
        "--out",
        str(tmp_path / "out"),
        "--config-dir",
        str(bad),
        "--work-dir",
        str(tmp_path / "work"),
    )
    assert done.returncode == 1
    assert "broken.yaml: provider" in done.stderr
    done = _chorus(
        "package", "--stage", "staging", "--out", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work")
    )
    assert done.returncode == 1 and "stage 'staging'" in done.stderr
    assert not (tmp_path / "out" / "deployment.zip").exists()


@pytest.mark.skipif(not shutil.which("terraform"), reason="terraform is not installed")
def test_terraform_loads_the_configuration_and_every_override_has_its_target(builds):
    """No provider registry here, so `terraform validate` stops at the providers; everything it
    checks before that (file syntax, override targets) must pass."""
    done = subprocess.run(
        ["terraform", "validate", "-no-color"],
        cwd=builds["terraform"],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    errors = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error:")]
    assert errors and set(errors) <= {"Error: Missing required provider"}, done.stdout + done.stderr


def _make_package_arguments() -> list[str]:
    """What `make package` passes to `chorus` (STAGE unset), read from the Makefile's recipe."""
    recipe = re.search(r"^package:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)[1]
    words = recipe.replace("$(or $(STAGE),dev)", "dev").split()
    assert words[0] == "$(BIN)/chorus", recipe
    return words[1:]


def test_make_package_fails_when_a_shipped_connector_reads_an_env_secret(tmp_path):
    """Lambda has no TYPEFORM_SECRET: packaging such a file would ship webhooks that answer 503.
    `make package`'s own arguments, on the shipped connectors/, with only the output moved."""
    arguments = _make_package_arguments()
    assert arguments == ["package", "--stage", "dev", "--out", "build/package"]  # what docs/deploy.md says
    assert (
        "same as: .venv/bin/chorus package --stage prod --out build/package"
        in (ROOT / "docs" / "deploy.md").read_text()
    )
    arguments[arguments.index("--out") + 1] = str(tmp_path / "out")
    done = _chorus(*arguments, "--work-dir", str(tmp_path / "work"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "typeform-nps.yaml: secrets.signing is env:TYPEFORM_SECRET" in done.stderr
    assert not (tmp_path / "out" / "deployment.zip").exists()
