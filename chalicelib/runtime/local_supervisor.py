"""The local hub's supervisor: starts its child processes, restarts one that dies, reports each.

Each child is `python -m chalicelib.runtime.local_children <role> ...`; it prints `ready <detail>`
once usable, then `beat` every HEARTBEAT_SECONDS while all its threads are alive. A child that
exits, or stays silent for HEARTBEAT_TIMEOUT_SECONDS (hung, or a poller thread died), is killed
and started again after a backoff that doubles from 0.5 s up to 30 s, and falls back to 0.5 s
once a child has stayed up for a minute.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("chorus_hub.local")

HEARTBEAT_SECONDS = 1.0
HEARTBEAT_TIMEOUT_SECONDS = 20.0
READY_TIMEOUT_SECONDS = 60.0
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
STABLE_SECONDS = 60.0


class ChildFailed(RuntimeError):
    """A child did not become ready (at start-up, where the hub gives up rather than retry)."""


@dataclass
class Child:
    """One supervised process and what /health says about it."""

    role: str  # the local_children role it runs
    args: list[str]
    on_ready: Callable[[Child], None] | None = None
    name: str = ""  # what /health calls it (default: its role); unique per child
    process: subprocess.Popen | None = None
    ready: bool = False
    detail: str = ""
    started_at: float = 0.0
    last_beat: float = 0.0
    restarts: int = 0
    last_exit: int | None = None
    backoff: float = BACKOFF_FIRST_SECONDS
    restart_at: float | None = None
    _ready_event: threading.Event = field(default_factory=threading.Event, repr=False)

    def snapshot(self, now: float) -> dict:
        alive = self.process is not None and self.process.poll() is None
        return {
            "role": self.name or self.role,
            "pid": self.process.pid if alive and self.process else None,
            "state": "running" if alive and self.ready else ("starting" if alive else "restarting"),
            "up_seconds": round(now - self.started_at, 1) if alive else 0.0,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
        }

    @property
    def running(self) -> bool:
        return self.ready and self.process is not None and self.process.poll() is None


class Supervisor:
    """Owns the children; `start(role, args)` blocks until that child is ready."""

    def __init__(self, parent_pid: int | None = None):
        self._parent = str(parent_pid or os.getpid())
        self._children: dict[str, Child] = {}
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    # --- starting -------------------------------------------------------------------------------

    def start(
        self,
        role: str,
        args: list[str],
        on_ready: Callable[[Child], None] | None = None,
        name: str | None = None,
    ) -> Child:
        child = Child(role, args, on_ready, name or role)
        with self._lock:
            self._children[child.name] = child
        self._launch(child)
        if not child._ready_event.wait(READY_TIMEOUT_SECONDS) or not child.ready:
            code = child.process.poll() if child.process else None
            raise ChildFailed(f"the {child.name} process did not start (exit {code})")
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)
            self._thread.start()
        return child

    def _launch(self, child: Child) -> None:
        child.ready, child.detail = False, ""
        child._ready_event.clear()
        child.process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.runtime.local_children", child.role, *child.args]
            + ["--parent", self._parent],
            stdout=subprocess.PIPE,
            text=True,
        )
        child.started_at = child.last_beat = time.monotonic()
        threading.Thread(
            target=self._read, args=(child, child.process), name=f"read-{child.role}", daemon=True
        ).start()

    def _read(self, child: Child, process: subprocess.Popen) -> None:
        """Follow one child's stdout: its ready line, then its heartbeats, until it closes."""
        assert process.stdout is not None
        for line in process.stdout:
            if process is not child.process:
                return
            if line.startswith("ready"):
                child.detail = line[len("ready") :].strip()
                try:
                    if child.on_ready is not None:
                        child.on_ready(child)
                    child.ready = True
                except Exception as exc:  # the child is of no use; the watcher restarts it
                    log.warning(
                        "child set-up failed", extra={"role": child.role, "error": type(exc).__name__}
                    )
                    process.kill()
                child._ready_event.set()
            child.last_beat = time.monotonic()
        child._ready_event.set()  # closed before ready: start() stops waiting

    # --- watching -------------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._halt.wait(0.2):
            now = time.monotonic()
            with self._lock:
                children = list(self._children.values())
            for child in children:
                self._check(child, now)

    def _check(self, child: Child, now: float) -> None:
        process = child.process
        if child.restart_at is not None:
            if now >= child.restart_at and not self._halt.is_set():
                child.restart_at = None
                child.restarts += 1
                log.warning(
                    "restarting a hub process", extra={"role": child.role, "restarts": child.restarts}
                )
                self._launch(child)
            return
        if process is None:
            return
        code = process.poll()
        silent = now - child.last_beat > HEARTBEAT_TIMEOUT_SECONDS
        stuck = not child.ready and now - child.started_at > READY_TIMEOUT_SECONDS  # hung starting
        if code is None and ((child.ready and silent) or stuck):
            log.warning("hub process stopped answering; killing it", extra={"role": child.role})
            process.kill()
            code = process.wait()
        if code is None:
            if child.ready and now - child.started_at > STABLE_SECONDS:
                child.backoff = BACKOFF_FIRST_SECONDS
            return
        child.ready, child.last_exit = False, code
        child.restart_at = now + child.backoff
        log.warning(
            "hub process exited", extra={"role": child.role, "exit": code, "restart_in": child.backoff}
        )
        child.backoff = min(BACKOFF_MAX_SECONDS, child.backoff * 2)

    # --- reporting and stopping -----------------------------------------------------------------

    def snapshot(self) -> list[dict]:
        now = time.monotonic()
        with self._lock:
            return [c.snapshot(now) for c in self._children.values()]

    def running(self, name: str) -> bool:
        child = self._children.get(name)
        return child is not None and child.running

    def pid(self, name: str) -> int | None:
        child = self._children.get(name)
        return child.process.pid if child and child.process and child.process.poll() is None else None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every child, last started first (the workers before the store they use)."""
        self._halt.set()
        if self._thread is not None:
            self._thread.join(2)
        with self._lock:
            children = list(self._children.values())[::-1]
            self._children = {}
        for child in children:
            process = child.process
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
