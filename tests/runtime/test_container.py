"""The container image's files, checked without docker (no engine here): what the Dockerfile copies
exists, what it installs holds the local hub's server, its command is a `chorus serve` the CLI's
argparse takes, its environment, volume, port and health check agree with that command, the
compose file mounts what the command names, and the health check's own command, run against a
hub started with the image's arguments, tells a serving hub from a stopped one."""

from __future__ import annotations

import inspect
import json
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest
import requests
import yaml

from chalicelib.cli import build_parser
from chalicelib.runtime.local import STATE_DIR_ENV
from chalicelib.runtime.local_lock import LOCK_NAME
from chalicelib.runtime.local_supervisor import Supervisor
from chalicelib.store.local import STORE_FILE
from tests.support.local_hub import announced_url, chorus_command, hub_env
from tests.support.paths import CONNECTORS, ROOT


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        current += raw.rstrip().removesuffix("\\") + " "
        if not raw.rstrip().endswith("\\"):
            lines.append(current.strip())
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def last(op: str) -> str:
    return [args for name, args in instructions() if name == op][-1]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for op, args in instructions():
        if op == "ENV":
            env.update(dict(word.split("=", 1) for word in shlex.split(args)))
    return env


def healthcheck() -> tuple[dict[str, str], list[str]]:
    """(--options, the exec-form command)."""
    options, _, command = last("HEALTHCHECK").partition(" CMD ")
    return dict(o.removeprefix("--").split("=", 1) for o in options.split()), json.loads(command)


def serve_args():
    assert json.loads(last("ENTRYPOINT")) == ["chorus"]
    command = json.loads(last("CMD"))
    args = build_parser().parse_args(command)
    assert args.command == "serve"
    return command, args


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


def test_the_command_serves_on_all_interfaces_with_its_state_on_the_volume():
    _, args = serve_args()
    assert args.host == "0.0.0.0"  # published by docker: loopback inside the container reaches no one
    assert args.state_dir in json.loads(last("VOLUME"))
    assert last("EXPOSE") == str(args.port)
    assert last("USER") != "root"
    # the CLI run by `docker compose exec` finds the hub's state and connectors by these
    env = image_env()
    assert env[STATE_DIR_ENV] == args.state_dir
    assert env["CHORUS_CONFIG_DIR"] == args.config_dir
    # relative paths in connector files (the file sink's .chorus/crm-sync.jsonl) land on the volume
    assert (last("WORKDIR") + "/").startswith(args.state_dir.rstrip("/") + "/")


def test_the_health_check_asks_the_served_port_for_the_health_route_within_its_timeout():
    _, args = serve_args()
    options, command = healthcheck()
    assert command[:2] == ["python", "-c"]
    code = command[2]
    assert re.search(rf"http://127\.0\.0\.1:{args.port}/health'", code)
    client_timeout = float(re.search(r"timeout=(\d+(?:\.\d+)?)", code)[1])
    assert client_timeout < float(
        options["timeout"].removesuffix("s")
    )  # the check's own error, not docker's kill


def test_compose_mounts_what_the_command_names_and_waits_for_the_workers_to_stop():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service = compose["services"]["chorus"]
    _, args = serve_args()
    mounts = {m.split(":")[1]: m.split(":") for m in service["volumes"]}
    assert mounts[args.state_dir][0] in compose["volumes"]  # named: survives `docker compose down`
    source, _, mode = mounts[args.config_dir]
    assert source.startswith("./") and mode == "ro"
    assert service["ports"] == [f"{args.port}:{args.port}"]
    assert service["init"] is True  # PID 1 forwards SIGTERM and reaps the worker
    # docker kills after stop_grace_period: longer than the hub gives its workers to finish a batch
    grace = int(service["stop_grace_period"].removesuffix("s"))
    assert grace > inspect.signature(Supervisor.stop).parameters["timeout"].default


@pytest.mark.slow
def test_the_health_check_command_passes_on_a_hub_started_with_the_image_arguments(tmp_path):
    """The image's own arguments, but for what only exists inside the image: a loopback port the OS picks,
    this machine's connector files and a temporary state directory."""
    command, args = serve_args()
    replaced = {
        "--port": "0",  # the OS picks; local.json names it (no free_port() another process could take)
        "--host": "127.0.0.1",
        "--config-dir": str(CONNECTORS),
        "--state-dir": str(tmp_path / "state"),
    }
    argv = [replaced.get(command[i - 1], word) if i else word for i, word in enumerate(command)]
    assert sorted(replaced) == sorted(w for w in command if w.startswith("--"))  # nothing else to map
    hub = subprocess.Popen([*chorus_command(), *argv], cwd=tmp_path, env=hub_env(), stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        while (url := announced_url(tmp_path / "state", hub.pid)) is None:
            assert hub.poll() is None and time.time() < deadline, "the hub did not start"
            time.sleep(0.2)
        port = int(url.rsplit(":", 1)[1])
        _, check = healthcheck()
        check = [sys.executable, *(word.replace(f":{args.port}/", f":{port}/") for word in check[1:])]
        while subprocess.run(check, capture_output=True, timeout=10, check=False).returncode != 0:
            assert hub.poll() is None and time.time() < deadline, "the hub did not become healthy"
            time.sleep(0.5)
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=5).json()["processing"] is True
        assert {LOCK_NAME, STORE_FILE} <= {p.name for p in (tmp_path / "state").iterdir()}
    finally:
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(timeout=30) == 0
    assert subprocess.run(check, capture_output=True, timeout=10, check=False).returncode != 0
