"""The local hub's schedule runner: calls each registered job (chalicelib/jobs.py) on its interval.

It runs in the supervised worker process. When each job last ran is kept in the state directory
(schedule.json), so a restart neither skips an hourly job for another hour nor runs it at once
again: a job that has never run here runs at start, then every interval after its last run.
Jobs run one after another; one that fails is logged and tried again on its next turn.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..jobs import Job, registered

log = logging.getLogger("chorus_hub.schedule")
SCHEDULE_FILE = "schedule.json"
TICK_SECONDS = 1.0


class ScheduleRunner(threading.Thread):
    def __init__(self, hub: Any, state_dir: str | os.PathLike, jobs: list[Job] | None = None):
        super().__init__(name="schedule", daemon=True)
        self._hub = hub
        self._jobs = [j for j in (registered() if jobs is None else jobs) if j.interval() > 0]
        self._path = Path(state_dir) / SCHEDULE_FILE
        self._halt = threading.Event()
        self.last_run: dict[str, float] = self._load()

    def _load(self) -> dict[str, float]:
        try:
            data = json.loads(self._path.read_text())
            return {str(k): float(v) for k, v in data.items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def _save(self) -> None:
        partial = self._path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.last_run))
        os.replace(partial, self._path)  # a crash leaves the old file or the new one, never half

    def due(self, now: float) -> list[Job]:
        return [j for j in self._jobs if now - self.last_run.get(j.name, float("-inf")) >= j.interval()]

    def run_due(self, now: float | None = None) -> list[str]:
        """Run every job that is due; returns their names (the tests call this directly)."""
        ran = []
        for job in self.due(time.time() if now is None else now):
            if self._halt.is_set():
                break
            started = time.monotonic()
            try:
                job.function()(self._hub)
                log.info("job ran", extra={"job": job.name, "ms": round((time.monotonic() - started) * 1000)})
            except Exception as exc:  # keep the hub alive; the job's next turn tries again
                log.warning("job failed", extra={"job": job.name, "error": type(exc).__name__})
            self.last_run[job.name] = time.time()
            ran.append(job.name)
            try:
                self._save()
            except OSError as exc:
                log.warning("cannot save the schedule", extra={"error": type(exc).__name__})
        return ran

    def run(self) -> None:
        while not self._halt.wait(TICK_SECONDS):
            self.run_due()

    def stop(self) -> None:
        self._halt.set()
