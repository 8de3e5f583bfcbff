"""The renders pass the vendors' own checkers, offline: cfn-lint for CloudFormation, and for
Terraform `terraform validate` plus the aws provider's schema (`terraform providers schema`),
with the provider taken from a local filesystem mirror. Without terraform or the mirror the
Terraform tests skip; nothing here reaches a network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chalicelib.infra import cloudformation, terraform
from chalicelib.infra.description import describe
from tests.infra.cases import CASES, NAMES, chalice_tf

pytestmark = pytest.mark.slow

MIRROR = Path(os.environ.get("TF_PLUGIN_MIRROR_DIR", "/opt/tf-plugins"))
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
# What Chalice's chalice.tf.json declares and chorus.tf.json uses (data sources for the ARNs).
CHALICE_DATA = {
    "terraform": {"required_providers": {"aws": {"source": "hashicorp/aws"}}},
    "data": {
        "aws_caller_identity": {"chalice": {}},
        "aws_partition": {"chalice": {}},
        "aws_region": {"chalice": {}},
    },
}


@pytest.mark.parametrize("case", CASES)
def test_cloudformation_render_passes_cfn_lint(case, tmp_path):
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        **cloudformation.render(describe(NAMES, *CASES[case])),
    }
    path = tmp_path / "chorus.json"
    path.write_text(json.dumps(template))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _terraform(directory: Path, *args: str) -> subprocess.CompletedProcess:
    rc = directory.parent / "terraformrc"
    rc.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{MIRROR}"\n    include = ["{AWS_PROVIDER}"]\n  }}\n'
        '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n'
    )
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(rc), "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    return subprocess.run(
        ["terraform", *args], cwd=directory, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def initialized(tmp_path_factory):
    """A Terraform working directory with the aws provider installed from the mirror."""
    if not shutil.which("terraform") or not (MIRROR / AWS_PROVIDER).is_dir():
        pytest.skip(f"needs terraform and the aws provider in a filesystem mirror at {MIRROR}")
    directory = tmp_path_factory.mktemp("terraform") / "config"
    directory.mkdir()
    (directory / "chalice_data.tf.json").write_text(json.dumps(CHALICE_DATA))
    done = _terraform(directory, "init", "-backend=false", "-input=false", "-no-color")
    assert done.returncode == 0, done.stdout + done.stderr
    schema = _terraform(directory, "providers", "schema", "-json")
    assert schema.returncode == 0, schema.stderr
    resources = json.loads(schema.stdout)["provider_schemas"][AWS_PROVIDER]["resource_schemas"]
    return directory, resources


@pytest.mark.parametrize("case", CASES)
def test_terraform_render_passes_terraform_validate(case, initialized):
    directory, _ = initialized
    (directory / "chorus.tf.json").write_text(json.dumps(terraform.render(describe(NAMES, *CASES[case]))))
    done = _terraform(directory, "validate", "-json", "-no-color")
    report = json.loads(done.stdout)
    assert report["valid"] and report["warning_count"] == 0, report["diagnostics"]


def _unknown_arguments(block: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    """Every key of `block` the provider's schema has no argument or nested block for."""
    unknown = []
    nested = schema.get("block_types", {})
    for key, value in block.items():
        if key == "lifecycle":  # a meta-argument of every resource
            continue
        if key in schema.get("attributes", {}):
            if schema["attributes"][key].get("computed") and not schema["attributes"][key].get("optional"):
                unknown.append(f"{where}.{key} (read-only)")
        elif key in nested:
            for item in value if isinstance(value, list) else [value]:
                unknown += _unknown_arguments(item, nested[key]["block"], f"{where}.{key}")
        else:
            unknown.append(f"{where}.{key}")
    return unknown


def test_override_sets_only_arguments_the_aws_provider_has(initialized):
    """An override file's arguments merge into Chalice's resources, so `terraform validate` of
    chorus.tf.json alone does not see them: check them against the provider's schema."""
    _, schemas = initialized
    description = describe(NAMES, *CASES["prod, every kind of secret"])
    config = terraform.render(description)
    override = terraform.override(chalice_tf(), description)
    unknown = []
    for source in (config, override):
        for kind, resources in source["resource"].items():
            for name, block in resources.items():
                unknown += _unknown_arguments(block, schemas[kind]["block"], f"{kind}.{name}")
    assert unknown == []


def test_the_schema_check_finds_a_misspelt_argument(initialized):
    _, schemas = initialized
    block = {"environment": {"variable": {}}, "function_response_type": [], "arn": "x"}
    assert _unknown_arguments(block, schemas["aws_lambda_function"]["block"], "f") == [
        "f.environment.variable",
        "f.function_response_type",
        "f.arn (read-only)",
    ]
