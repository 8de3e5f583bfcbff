"""Periodic jobs: what runs on a timer rather than on a delivery.

A job is a plain function of the Hub, named here by its import path (so this table imports
nothing). The local hub's worker process runs each on its interval (runtime/local_schedule.py);
on AWS the same function is an `@app.schedule` handler in app.py. To add one, append a Job to
JOBS, or call `register(Job(...))` from code that the worker process imports.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    target: str  # "package.module:function", called with the Hub
    # the environment variable that overrides every_seconds (0 turns the job off)
    interval_env: str | None = None

    def interval(self) -> float:
        if self.interval_env and os.environ.get(self.interval_env):
            return float(os.environ[self.interval_env])
        return self.every_seconds

    def function(self) -> Callable[[Any], Any]:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


JOBS: list[Job] = [
    Job("decay-scores", 3600, "chalicelib.pipeline.decay:decay_due_people", "CHORUS_DECAY_INTERVAL_SECONDS"),
    Job("websub-renewal", 3600, "chalicelib.websub:renew_websub", "CHORUS_WEBSUB_INTERVAL_SECONDS"),
    Job("channel-renewal", 6 * 3600, "chalicelib.channels:renew_channels", "CHORUS_CHANNEL_INTERVAL_SECONDS"),
    # listeners keep their own schedules (`schedule: {every: 15m}`); this only looks for due ones
    Job("poll-listeners", 60, "chalicelib.pipeline.poll:run_due_pollers", "CHORUS_POLL_INTERVAL_SECONDS"),
]


def register(job: Job) -> None:
    """Add a job (or replace the one of the same name)."""
    JOBS[:] = [j for j in JOBS if j.name != job.name] + [job]


def registered() -> list[Job]:
    return list(JOBS)
