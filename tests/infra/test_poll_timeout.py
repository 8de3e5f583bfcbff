"""The AWS poll run fits in its Lambda: the run's time budget plus one call in flight."""

import json
from pathlib import Path

from chalicelib.pipeline.poll import DEFAULT_TIME_BUDGET
from chalicelib.providers.listener import POLL_TIMEOUT

CONFIG = Path(__file__).resolve().parents[2] / ".chalice" / "config.json"


def test_the_poll_lambda_outlives_its_time_budget_and_a_last_call():
    config = json.loads(CONFIG.read_text())
    timeout = config["lambda_functions"]["poll_listeners"]["lambda_timeout"]
    # the deadline is checked before each call, so one call (connect + read) may run past it
    assert timeout > DEFAULT_TIME_BUDGET + sum(POLL_TIMEOUT) + 5
    assert config["lambda_timeout"] < DEFAULT_TIME_BUDGET  # the default alone would cut runs short


def test_a_run_never_outlives_the_lambda_that_runs_it(monkeypatch):
    """The time budget shrinks to what the invocation has left, less one call in flight."""
    import app
    from chalicelib.pipeline import poll

    margin = sum(POLL_TIMEOUT) + 5
    assert poll.time_budget_for(None) == DEFAULT_TIME_BUDGET  # not in Lambda: the default
    assert poll.time_budget_for(90_000) == DEFAULT_TIME_BUDGET
    assert poll.time_budget_for(30_000) == 30 - margin
    assert poll.time_budget_for(5_000) == 0  # too little left: no call starts

    budgets = []
    monkeypatch.setattr(poll, "run_due_pollers", lambda hub, time_budget: budgets.append(time_budget) or [])
    monkeypatch.setattr(app, "get_hub", lambda: None)

    class Context:
        def get_remaining_time_in_millis(self):
            return 25_000

    scheduled = {  # an EventBridge scheduled event, as AWS documents its fields
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-03T08:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/chorus-poll_listeners"],
        "detail": {},
    }
    assert app.poll_listeners(scheduled, Context()) == {"polled": 0, "found": 0}  # as Lambda calls it
    assert budgets == [25 - margin]
