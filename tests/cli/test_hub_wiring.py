"""The in-process CLI finds the local hub's wiring (config folder, state directory, store kind)
and passes it down as a value: it writes nothing to the process environment and leaves the
process's Hub factory alone, so nothing has to be undone after it."""

from __future__ import annotations

import json
import os

import pytest

from tests.support.paths import CONNECTORS


@pytest.mark.parametrize("running", [False, True], ids=["store-only", "hub-running"])
def test_the_cli_reaches_the_local_hub_without_touching_the_environment(hub, running, tmp_path, capsys):
    from chalicelib.cli import main
    from chalicelib.runtime import aws as runtime_aws
    from chalicelib.runtime.local import STATE_FILE_NAME
    from chalicelib.runtime.local_lock import StateLock
    from chalicelib.schema import utcnow
    from chalicelib.store.base import DeadLetter

    state = tmp_path / ".chorus"  # the local backend's state directory (cwd is tmp_path)
    hub.store.put_dead_letter(DeadLetter("d1", "sync", "crm-file", "HTTP 400 bad property", {}, utcnow()))
    lock = None
    if running:  # a hub holds the state directory and left its local.json
        (state / STATE_FILE_NAME).write_text(json.dumps({"config_dir": str(CONNECTORS), "store": "sqlite"}))
        lock = StateLock(state).acquire()
    environment, factory = dict(os.environ), runtime_aws._factory
    try:
        assert main(["dlq", "list"]) == 0
    finally:
        if lock is not None:
            lock.release()
    assert "HTTP 400 bad property" in capsys.readouterr().out  # it read this hub's store
    assert dict(os.environ) == environment
    assert runtime_aws._factory is factory
