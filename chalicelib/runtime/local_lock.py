"""One hub per state directory: an flock'ed lock file, taken before anything else is opened.

The kernel drops the lock when its holder dies, however it dies (SIGKILL included), so a stale
lock never needs cleaning up. A second `chorus serve` on the same directory fails here, having
opened nothing but the lock file: it never reaches the queue file or the store of the running hub.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "hub.lock"


class HubAlreadyRunning(Exception):
    """Another process holds the state directory's lock."""

    def __init__(self, state_dir: Path, pid: str):
        self.state_dir, self.pid = state_dir, pid
        holder = f"pid {pid}" if pid else "another process"
        super().__init__(
            f"another Chorus hub ({holder}) is using the state directory {state_dir}; "
            "stop it first, or give this one its own --state-dir"
        )


class StateLock:
    """Held for the life of the hub; `release()` (or the process's exit) gives it up."""

    def __init__(self, state_dir: str | os.PathLike):
        self.state_dir = Path(state_dir).resolve()
        self._fd: int | None = None

    def acquire(self) -> StateLock:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / LOCK_NAME
        # O_CLOEXEC: the children must not inherit the lock (a child outliving a SIGKILLed parent
        # would keep the next hub from starting)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise HubAlreadyRunning(self.state_dir, pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def lock_holder(state_dir: str | os.PathLike) -> str | None:
    """The pid of the hub holding `state_dir`, or None when no hub runs there (the CLI asks)."""
    path = Path(state_dir) / LOCK_NAME
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
