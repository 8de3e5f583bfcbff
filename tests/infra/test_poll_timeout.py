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
