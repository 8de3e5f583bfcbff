"""`chorus serve` as processes: supervision, honest health, one hub per state directory,
acknowledged deliveries kept across a crash, and the start-up secret check."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import requests

from tests.support.admin import survey
from tests.support.local_hub import CONNECTORS, ServedHub, chorus_command, hub_env, wait_for
from tests.support.senders import SECRETS, typeform_headers

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": f"Bearer {SECRETS['CHORUS_ADMIN_TOKEN']}"}


@pytest.fixture
def served(tmp_path):
    hub = ServedHub(tmp_path).start()
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One hub for the tests that leave it as they found it (each hub start costs seconds)."""
    hub = ServedHub(tmp_path_factory.mktemp("shared-hub")).start()
    yield hub
    hub.stop()


def processed(hub: ServedHub, n: int) -> bool:
    from chalicelib.providers.base import interaction_id

    wanted = interaction_id("typeform-nps", f"crash-{n}")
    return any(i["interaction_id"] == wanted for i in typeform_interactions(hub))


def post_survey(hub: ServedHub, n: int) -> int:
    body = survey(token=f"crash-{n}", email=f"crash{n}@example.org")
    return requests.post(
        f"{hub.base}/webhooks/typeform-nps", data=body, headers=typeform_headers(body)
    ).status_code


def typeform_interactions(hub: ServedHub) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"connector_id": "typeform-nps", "limit": 100, **({"next": cursor} if cursor else {})}
        page = requests.get(f"{hub.base}/admin/interactions", params=params, headers=ADMIN, timeout=10).json()
        items += page["items"]
        cursor = page.get("next")
        if not cursor:
            return items


def test_a_dead_worker_is_restarted_and_health_is_503_meanwhile(served):
    status, report = served.health()
    assert status == 200 and report["processing"] is True
    assert {p["role"] for p in report["processes"]} == {"http", "workers"}
    assert set(report["queues"]) == {"chorus-ingest", "chorus-sync", "chorus-ingest-dlq", "chorus-sync-dlq"}
    old = served.child_pids()["workers"]
    os.kill(old, signal.SIGKILL)
    status, report = wait_for(served.health, lambda h: h[0] == 503, 5)
    assert status == 503 and report["processing"] is False
    status, report = wait_for(served.health, lambda h: h[0] == 200, 30)
    workers = next(p for p in report["processes"] if p["role"] == "workers")
    assert status == 200
    assert workers["pid"] != old and workers["restarts"] == 1 and workers["last_exit"] == -signal.SIGKILL
    assert post_survey(served, 1) == 200  # and the new worker processes it
    assert len(wait_for(lambda: typeform_interactions(served), lambda i: len(i) == 1)) == 1


def test_more_worker_processes_share_the_queues_and_each_is_supervised(tmp_path):
    hub = ServedHub(tmp_path, env=hub_env(CHORUS_WORKERS="2")).start()
    try:
        status, report = hub.health()
        assert status == 200
        assert {p["role"] for p in report["processes"]} == {"http", "workers", "queue-workers-2"}
        extra = hub.child_pids()["queue-workers-2"]
        os.kill(extra, signal.SIGKILL)
        restarted = wait_for(
            hub.health,
            lambda h: any(p["role"] == "queue-workers-2" and p["restarts"] == 1 for p in h[1]["processes"]),
            30,
        )[1]
        assert restarted["processing"] is True  # the main worker never stopped
        for n in range(30):
            assert post_survey(hub, n) == 200
        items = wait_for(lambda: typeform_interactions(hub), lambda i: len(i) >= 30, 60)
        assert len(items) == 30 and len({i["interaction_id"] for i in items}) == 30  # each once
    finally:
        hub.stop()


def test_a_bad_worker_count_is_one_line_and_starts_nothing(tmp_path):
    run = subprocess.run(
        [*chorus_command(), "serve", "--config-dir", str(CONNECTORS), "--port", "0"],
        cwd=tmp_path,
        env=hub_env(CHORUS_WORKERS="lots"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "CHORUS_WORKERS: not a number of processes: 'lots'" in run.stderr


def test_health_reports_the_backlog_while_the_workers_are_paused(shared):
    workers = shared.child_pids()["workers"]
    os.kill(workers, signal.SIGSTOP)
    try:
        before = shared.health()[1]["queues"]["chorus-ingest"]["depth"]
        for n in range(100, 103):
            assert post_survey(shared, n) == 200
        time.sleep(1.1)
        ingest = shared.health()[1]["queues"]["chorus-ingest"]
        assert ingest["depth"] == before + 3 and ingest["oldest_age_seconds"] >= 1.0
    finally:
        os.kill(workers, signal.SIGCONT)


def test_a_second_serve_on_the_same_state_directory_refuses_and_touches_nothing(shared):
    served = shared
    state = served.workdir / ".chorus"
    wait_for(lambda: (state / "schedule.json").exists(), bool)  # the hub's own first writes are done

    # the running hub writes its store and queues meanwhile: compare what only a second hub would
    # change (a file created, removed or replaced; the lock's or local.json's content)
    def snapshot():
        # SQLite itself may drop and recreate -wal and -shm files as connections come and go
        # and the running hub's job runner replaces schedule.json (through schedule.tmp) whenever
        # a job runs
        files = {
            p.name: p.stat().st_ino
            for p in state.iterdir()
            if not p.name.endswith(("-wal", "-shm")) and not p.name.startswith("schedule.")
        }
        return files, (state / "hub.lock").read_bytes(), (state / "local.json").read_bytes()

    before = snapshot()
    second = subprocess.run(
        [*chorus_command(), "serve", "--config-dir", str(CONNECTORS), "--port", "0"],
        cwd=served.workdir,
        env=hub_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert f"pid {served.proc.pid}" in second.stderr and "state directory" in second.stderr
    assert "Traceback" not in second.stderr
    assert snapshot() == before
    assert post_survey(served, 7) == 200
    assert wait_for(lambda: processed(served, 7), bool)


def test_deliveries_acknowledged_before_a_crash_are_processed_after_the_restart(tmp_path):
    hub = ServedHub(tmp_path).start()
    try:
        os.kill(hub.child_pids()["workers"], signal.SIGSTOP)  # acknowledged, not yet processed
        assert [post_survey(hub, n) for n in range(5)] == [200] * 5
        hub.kill()
        queue_file = tmp_path / ".chorus" / "queues.sqlite3"
        assert queue_file.exists()
        hub.start()
        items = wait_for(lambda: typeform_interactions(hub), lambda i: len(i) == 5, 60)
        assert len(items) == 5 and len({i["interaction_id"] for i in items}) == 5
        assert hub.health()[1]["queues"]["chorus-ingest"]["depth"] == 0
    finally:
        hub.kill()


def test_a_port_in_use_is_one_line_and_leaves_nothing_running(tmp_path):
    import socket

    from chalicelib.runtime.local_lock import lock_holder

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*chorus_command(), "serve", "--config-dir", str(CONNECTORS), "--port", str(port)],
            cwd=tmp_path,
            env=hub_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == f"chorus serve: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert lock_holder(tmp_path / ".chorus") is None  # released: the next start may go ahead


def test_serve_names_every_missing_secret_and_starts_nothing(tmp_path):
    env = hub_env()
    for name in ("TEST_TYPEFORM_SECRET", "TEST_ZENDESK_SIGNING_SECRET"):
        env.pop(name, None)
    result = subprocess.run(
        [*chorus_command(), "serve", "--config-dir", str(CONNECTORS), "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "typeform-nps: secrets.signing: environment variable TEST_TYPEFORM_SECRET is not set" in lines[0]
    assert any(
        line.startswith("zendesk-support: secrets.signing:") and "TEST_ZENDESK_SIGNING_SECRET" in line
        for line in lines
    )
    assert lines[-1] == f"{len(lines) - 1} problem(s) found"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".chorus" / "queues.sqlite3").exists()


def test_validate_resolve_names_missing_secrets(tmp_path):
    env = hub_env()
    env.pop("TEST_TYPEFORM_SECRET", None)
    plain = subprocess.run(
        [*chorus_command(), "validate", str(CONNECTORS)], env=env, capture_output=True, text=True, timeout=60
    )
    assert plain.returncode == 0
    resolved = subprocess.run(
        [*chorus_command(), "validate", str(CONNECTORS), "--resolve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resolved.returncode == 1
    assert resolved.stderr.splitlines() == [
        "typeform-nps: secrets.signing: environment variable TEST_TYPEFORM_SECRET is not set "
        "(secret env:TEST_TYPEFORM_SECRET)",
        "1 problem(s) found",
    ]
    env["TEST_TYPEFORM_SECRET"] = "back"
    ok = subprocess.run(
        [*chorus_command(), "validate", str(CONNECTORS), "--resolve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and "secrets resolve" in ok.stdout


def test_the_cli_says_plainly_when_it_needs_a_hub(tmp_path):
    env = hub_env()
    for command in (["dlq", "list"], ["people", "show", "p-1"]):
        result = subprocess.run(
            [*chorus_command(), *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 1, result.stderr
        assert "no local hub state in" in result.stderr
        assert "Traceback" not in result.stderr


def test_the_cli_works_on_the_state_directory_without_a_server(tmp_path):
    hub = ServedHub(tmp_path).start()
    assert post_survey(hub, 1) == 200
    [item] = wait_for(lambda: typeform_interactions(hub), lambda i: len(i) == 1)
    hub.stop()
    env = hub_env()
    shown = subprocess.run(
        [*chorus_command(), "people", "show", item["person_id"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["person_id"] == item["person_id"]
    listed = subprocess.run(
        [*chorus_command(), "dlq", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0 and "0 dead letter(s)" in listed.stdout


def test_the_cli_reaches_the_running_hub(shared):
    served = shared
    env = hub_env()
    result = subprocess.run(
        [*chorus_command(), "dlq", "list"],
        cwd=served.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "0 dead letter(s)" in result.stdout
    state = json.loads((served.workdir / ".chorus" / "local.json").read_text())
    assert state["url"] == served.base


def test_serve_says_at_start_when_the_admin_api_is_off(monkeypatch):
    from chalicelib.runtime.local import _admin_token_note

    monkeypatch.delenv("CHORUS_ADMIN_TOKEN")
    assert _admin_token_note() == [
        "the admin API is off: its token (env:CHORUS_ADMIN_TOKEN) does not resolve"
    ]
    monkeypatch.setenv("CHORUS_ADMIN_TOKEN", "set")
    assert _admin_token_note() == []
