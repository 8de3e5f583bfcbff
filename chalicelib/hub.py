"""The Hub: every dependency the pipeline steps need, built by runtime wiring."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .config.loader import ConnectorSet
from .queues import BlobStore, Queue
from .schema import utcnow
from .store.base import Store


@dataclass
class Hub:
    connectors: ConnectorSet
    store: Store
    ingest_queue: Queue
    sync_queue: Queue
    blobs: BlobStore
    clock: Callable[[], datetime] = utcnow
    http_factory: Callable[[], Any] | None = None
    _http: Any = field(default=None, repr=False)
    refusals: Any = field(default_factory=lambda: _refusal_buffer(), repr=False)  # pipeline/refusals.py
    pulse: Any = field(default_factory=lambda: _pulse_tally(), repr=False)  # pipeline/pulse.py

    @property
    def settings(self):
        return self.connectors.settings

    @property
    def http(self) -> Any:
        """A shared requests session, created on first use (requests costs ~90 ms to import)."""
        if self._http is None:
            if self.http_factory is not None:
                self._http = self.http_factory()
            else:
                import requests

                self._http = requests.Session()
        return self._http


def _refusal_buffer() -> Any:
    from .pipeline.refusals import RefusalBuffer

    return RefusalBuffer()


def _pulse_tally() -> Any:
    from .pipeline.pulse import PulseTally

    return PulseTally()
