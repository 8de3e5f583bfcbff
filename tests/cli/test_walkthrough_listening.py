"""docs/walkthrough-listening.md, step by step, against a real `chorus serve`: the walk-through's
own connector files and stand-in web (on a free port instead of 8765), the schedule's first
polls, `chorus poll`, the interactions, GET /admin/pulse and `chorus pulse`."""

from __future__ import annotations

import functools
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from tests.support.local_hub import ServedHub, chorus_command, hub_env, wait_for

pytestmark = pytest.mark.slow
WALKTHROUGH = Path(__file__).resolve().parents[2] / "docs" / "walkthrough-listening"
TOKEN = "walkthrough-admin-token"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture
def stand_in_web():
    handler = functools.partial(QuietHandler, directory=str(WALKTHROUGH / "site"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # a port the OS picks
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def hub(tmp_path, stand_in_web):
    config = tmp_path / "connectors"
    shutil.copytree(WALKTHROUGH / "connectors", config)
    for path in config.glob("*.yaml"):  # the walk-through's port, moved to a free one
        path.write_text(path.read_text().replace("127.0.0.1:8765", f"127.0.0.1:{stand_in_web}"))
    served = ServedHub(tmp_path, env=hub_env(CHORUS_ADMIN_TOKEN=TOKEN), config_dir=config).start()
    yield served
    served.stop()


def chorus(hub: ServedHub, *args: str) -> str:
    done = subprocess.run(
        [*chorus_command(), *args], cwd=hub.workdir, env=hub.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def admin(hub: ServedHub, path: str) -> dict:
    answer = requests.get(hub.base + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def interactions(hub: ServedHub, connector: str) -> list[dict]:
    return admin(hub, f"/admin/interactions?connector_id={connector}")["items"]


def test_the_listening_walkthrough_runs_as_written(hub):
    # step 3: the schedule polls both listeners as the hub starts
    wait_for(lambda: interactions(hub, "hn-brand") + interactions(hub, "blog-feed"), lambda i: len(i) == 3)
    # step 4: a poll by hand finds the stand-in's two items again; they are stored once
    printed = chorus(hub, "poll", "hn-brand")
    assert "hn-brand [Chorus]: 2 found and queued, 1 call(s), done" in printed
    assert "\n  health: last ok " in printed and printed.rstrip().endswith(" UTC, 0 consecutive failures")
    assert "0 found and queued" in chorus(hub, "poll", "blog-feed")
    # step 5: what is stored
    hn = {i["key"]: i for i in interactions(hub, "hn-brand")}
    assert set(hn) == {"hn:item:42011877", "hn:item:42009950"}
    comment = hn["hn:item:42011877"]
    assert (comment["kind"], comment["author"]["handle"]) == ("comment", "kwoods")
    assert comment["sentiment"]["label"] == "negative" and comment["brand_matches"] == ["Chorus"]
    (blog,) = interactions(hub, "blog-feed")
    assert blog["key"] == "https://notes.example.org/2026/11/three-weeks-with-chorus"
    assert blog["author"]["display_name"] == "Priya Natarajan" and blog["sentiment"]["label"] == "positive"
    feeds = {c["id"]: c for c in admin(hub, "/admin/connectors")["items"]}
    assert feeds["blog-feed"]["skipped"] == {"no_brand_match": 1}
    # step 6: the pulse, by the admin API and by the CLI
    pulse = wait_for(
        lambda: admin(hub, "/admin/pulse?from=2026-11-25&to=2026-12-02&interval=day"),
        lambda p: sum(c["totals"]["mentions"] for c in p["channels"].values()) == 3,
    )
    totals = {name: c["totals"] for name, c in pulse["channels"].items()}
    assert totals["hackernews"]["sentiment"] == {"positive": 1, "neutral": 0, "negative": 1}
    assert totals["rss"]["mentions"] == 1 and totals["rss"]["voices"]["new"] == 1
    text = chorus(hub, "pulse", "--from", "2026-11-25", "--to", "2026-12-02")
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines() if line[:1].isalpha()}
    assert rows["all"][:5] == ["3", "3", "2", "0", "1"]
