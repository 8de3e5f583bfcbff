"""Start and stop a real `chorus serve` in a folder of its own, for the tests that need processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from chalicelib.runtime.local import STATE_FILE_NAME

from .paths import CONNECTORS


def chorus_command() -> list[str]:
    chorus = Path(sys.executable).parent / "chorus"
    return [str(chorus)] if chorus.exists() else [sys.executable, "-m", "chalicelib.cli"]


def hub_env(**extra: str) -> dict[str, str]:
    """The test process's environment without its moto credentials, plus `extra`. One worker
    process unless `extra` says otherwise: the tests that pause or kill "the" worker mean it."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "CHORUS_WORKERS": "1",
        **extra,
    }


def announced_url(state_dir: Path, pid: int) -> str | None:
    """The URL the hub with this pid listens on, once its local.json says so (a hub started with
    --port 0 listens on a port the OS picks, which no other test process can take before it)."""
    try:
        state = json.loads((state_dir / STATE_FILE_NAME).read_text())
    except (OSError, ValueError):  # not written yet, or being written
        return None
    return state["url"] if state.get("pid") == pid else None  # else the previous start's file


class ServedHub:
    """One `chorus serve` process in `workdir` (its state in workdir/.chorus)."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
        config_dir: Path = CONNECTORS,
    ):
        # no port: --port 0 and the one local.json names (announced_url), never a free_port() guess
        self.workdir, self.requested_port, self.config_dir = workdir, port or 0, config_dir
        self.port, self.base = port or 0, f"http://127.0.0.1:{port}" if port else ""
        self.env = env or hub_env()
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "serve.log"

    def start(self, wait: float = 90) -> ServedHub:
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            [
                *chorus_command(),
                "serve",
                "--config-dir",
                str(self.config_dir),
                "--port",
                str(self.requested_port),
            ],
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.time() + wait
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("chorus serve exited:\n" + self.log_path.read_text()[-3000:])
            try:
                if self._listening() and requests.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:  # not yet listening, or listening before it serves
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError("chorus serve did not start:\n" + self.log_path.read_text()[-3000:])

    def _listening(self) -> bool:
        """Whether this start's process has said where it listens."""
        if self.requested_port:
            return True
        state_dir = self.workdir / (self.env.get("CHORUS_STATE_DIR") or ".chorus")
        url = announced_url(state_dir, self.proc.pid) if self.proc else None
        if url is None:
            return False
        self.base, self.port = url, int(url.rsplit(":", 1)[1])
        return True

    def health(self) -> tuple[int, dict]:
        answer = requests.get(f"{self.base}/health", timeout=5)
        return answer.status_code, answer.json()

    def child_pids(self) -> dict[str, int]:
        return {p["role"]: p["pid"] for p in self.health()[1]["processes"] if p.get("pid")}

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def kill(self) -> None:
        """SIGKILL the whole hub at once: the HTTP process and each child, as a crash or OOM would."""
        pids = []
        try:
            pids = list(self.child_pids().values())
        except (requests.RequestException, ValueError):
            pass
        if self.proc and self.proc.poll() is None:
            pids.append(self.proc.pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc:
            self.proc.wait(timeout=10)


def wait_for(fetch, predicate, seconds: float = 30.0):
    deadline = time.time() + seconds
    value = fetch()
    while time.time() < deadline:
        if predicate(value):
            return value
        time.sleep(0.2)
        value = fetch()
    return value
