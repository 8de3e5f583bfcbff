"""The supervisor on a real worker process: a hung worker (stopped: no heartbeat) is killed and
started again, and the backoff between restarts grows."""

from __future__ import annotations

import os
import signal
import time

import pytest

from chalicelib.runtime import local_supervisor
from tests.support.paths import CONNECTORS

pytestmark = pytest.mark.slow


def wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_silent_worker_is_killed_and_restarted(tmp_path, monkeypatch):
    monkeypatch.setattr(local_supervisor, "HEARTBEAT_TIMEOUT_SECONDS", 2.0)
    supervisor = local_supervisor.Supervisor()
    args = ["--config-dir", str(CONNECTORS), "--state-dir", str(tmp_path), "--store", "sqlite"]
    try:
        child = supervisor.start("workers", args)
        first = child.process.pid
        os.kill(first, signal.SIGSTOP)  # alive but silent, as a hung process is
        assert wait_until(lambda: supervisor.running("workers") and supervisor.pid("workers") != first, 60)
        [report] = supervisor.snapshot()
        assert report["restarts"] == 1 and report["last_exit"] == -signal.SIGKILL
        assert child.backoff == 2 * local_supervisor.BACKOFF_FIRST_SECONDS  # the next wait is longer
    finally:
        supervisor.stop()
    assert supervisor.snapshot() == []
