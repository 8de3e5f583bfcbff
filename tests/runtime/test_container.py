"""The container image's files, checked without docker (not available here): what the Dockerfile
copies exists, what it installs holds the local hub's server, its command is one the CLI takes,
and the compose file mounts the state directory the command names on a volume."""

from __future__ import annotations

import json
import re

import yaml

from chalicelib.cli import build_parser
from tests.support.paths import ROOT


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_every_copied_path_exists_and_is_not_ignored():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    copies = [args.split() for op, args in instructions() if op == "COPY"]
    assert copies
    for *sources, _target in copies:
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source not in ignored


def test_the_image_installs_the_local_hub_without_test_tools():
    runs = " ".join(args for op, args in instructions() if op == "RUN")
    assert "-r requirements-local.txt" in runs and "requirements-dev" not in runs
    local = (ROOT / "requirements-local.txt").read_text()
    for package in ("waitress", "chalice", "pyyaml", "-r requirements.txt"):
        assert package in local
    assert "moto" not in local and "pytest" not in local


def test_the_command_is_a_serve_the_cli_accepts_on_the_volume():
    ops = dict(instructions())
    entry, command = json.loads(ops["ENTRYPOINT"]), json.loads(ops["CMD"])
    assert entry == ["chorus"]
    args = build_parser().parse_args(command)
    assert args.command == "serve" and args.host == "0.0.0.0"
    volume = json.loads(ops["VOLUME"])
    assert args.state_dir in volume
    assert f"EXPOSE {args.port}" in [f"{op} {a}" for op, a in instructions()]
    assert re.search(rf"127\.0\.0\.1:{args.port}/health", ops["HEALTHCHECK"])
    assert ops["USER"] != "root"


def test_compose_keeps_the_state_directory_on_a_named_volume():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = compose["services"]["chorus"]
    command = json.loads(dict(instructions())["CMD"])
    args = build_parser().parse_args(command)
    mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
    assert mounts[args.state_dir] in compose["volumes"]  # named: survives `docker compose down`
    assert mounts[args.config_dir].startswith("./") and service["volumes"][1].endswith(":ro")
    assert service["ports"] == [f"{args.port}:{args.port}"]
