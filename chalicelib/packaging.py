"""`chorus package`: a deployable Chalice package with everything Chalice does not make.

Chalice wires handlers to queue names but creates no table, queue or bucket, and its SQS
event sources lack `ReportBatchItemFailures`. So this step:

1. copies the project (app.py, chalicelib/, vendor/, .chalice/) into a work folder and
   bundles the validated connector files into its chalicelib/_bundle/ (the source tree is
   never touched);
2. describes the missing resources from the specs in runtime/resources.py (infra/description.py:
   the deployed table and queues cannot drift from the local ones) and renders them in the
   chosen format (infra/cloudformation.py, infra/terraform.py), with partial batch failures,
   the resources' environment and a scoped policy on what `chalice package` generated;
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
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .config.loader import write_bundle
from .infra import cloudformation, terraform
from .infra.description import Description, DescriptionError, describe
from .runtime.resources import ResourceNames

FORMATS = ("cloudformation", "terraform")
MERGE_TEMPLATE = "chorus-resources.json"
TF_RESOURCES = "chorus.tf.json"
TF_OVERRIDE = "chorus_override.tf.json"
_COPIED = ("app.py", "requirements.txt", "chalicelib", "vendor")


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
    description = describe(names, stage, refs, _created_admin_secret(stage_env))
    _clean_output(out)
    try:
        _render(description, work, stage, out, pkg_format)
    except DescriptionError as exc:
        raise PackagingError(str(exc)) from exc
    zip_path = out / "deployment.zip"
    return PackageResult(out, zip_path, zip_path.stat().st_size, time.monotonic() - started, warnings)


def _render(description: Description, work: Path, stage: str, out: Path, pkg_format: str) -> None:
    """Run chalice package and write the description beside (or into) what Chalice made."""
    if pkg_format == "cloudformation":
        discovered = _chalice(work, stage, work / "discover")
        chalice_template = json.loads((discovered / "sam.json").read_text(encoding="utf-8"))
        merge_path = work / MERGE_TEMPLATE
        merge = cloudformation.merge_template(chalice_template, description)
        merge_path.write_text(json.dumps(merge, indent=2), encoding="utf-8")
        _chalice(work, stage, out, "--merge-template", str(merge_path))
        shutil.copy(merge_path, out / MERGE_TEMPLATE)
        cloudformation.check(json.loads((out / "sam.json").read_text(encoding="utf-8")))
    else:
        _chalice(work, stage, out, "--pkg-format", "terraform")
        chalice_tf = json.loads((out / "chalice.tf.json").read_text(encoding="utf-8"))
        override = terraform.override(chalice_tf, description)
        (out / TF_RESOURCES).write_text(json.dumps(terraform.render(description), indent=2), encoding="utf-8")
        (out / TF_OVERRIDE).write_text(json.dumps(override, indent=2), encoding="utf-8")
        terraform.check(chalice_tf, override)


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
    "chalicelib/infra",
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
