"""Cheap refusals: what the ingest path does with a refused request (and a handshake).

Nothing is written per request. Each refusal is counted in memory and its log record buffered;
a flush writes the counts as one atomic add per connector and the records in batches of 25,
at most every FLUSH_SECONDS (or when BATCH records wait). An accepted delivery's ack never
flushes: its only work is the enqueue. Where a timer thread runs (the local hub's HTTP process,
every second and at exit) it does every flush; without one (Lambda, which freezes between
invocations) the refused request that finds a flush due pays for it. Past MAX_BUFFERED records in one flush window
records are sampled out (counted, not logged one by one), so a flood of junk costs at most
MAX_BUFFERED log writes per window per process. On Lambda each refusal is also an EMF metric
(Powertools), exact even when a container is recycled with counts not yet flushed.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

from ..store.delivery_log import DeliveryRecord

if TYPE_CHECKING:
    from ..hub import Hub

log = logging.getLogger("chorus_hub.refusals")
FLUSH_SECONDS = 5.0
BATCH = 25
MAX_BUFFERED = 200
UNKNOWN_CONNECTOR = "unknown"  # metric dimension and log bucket of requests to no connector
METRIC_NAMESPACE = "Chorus"


class RefusalBuffer:
    """Per process: refusal counts by connector and reason, and log records waiting to be written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {}
        self._records: list[DeliveryRecord] = []
        self._last_flush = time.monotonic()
        self.sampled_out = 0  # refusals counted but not logged since the process started
        self._timer: threading.Thread | None = None

    def refused(self, hub: Hub, record: DeliveryRecord, counted: bool) -> None:
        """A refused request: count it (when it names a connector) and buffer its record."""
        with self._lock:
            if counted:
                self._counts.setdefault(record.connector_id, Counter())[record.reason or "refused"] += 1
            self._buffer(record)
        emit_metric(record.connector_id if counted else UNKNOWN_CONNECTOR, record.reason or "refused")
        self._flush_here_if_due(hub)

    def answered(self, hub: Hub, record: DeliveryRecord) -> None:
        """A handshake answered without queueing anything: logged like a refusal, not counted."""
        with self._lock:
            self._buffer(record)
        self._flush_here_if_due(hub)

    def _flush_here_if_due(self, hub: Hub) -> None:
        """On the refused request itself only when no timer thread flushes for it."""
        if self._timer is None:
            self.flush_if_due(hub)

    def _buffer(self, record: DeliveryRecord) -> None:
        if len(self._records) < MAX_BUFFERED:
            self._records.append(record)
        else:
            self.sampled_out += 1

    @property
    def pending(self) -> bool:
        return bool(self._records or self._counts)

    def flush_if_due(self, hub: Hub) -> None:
        """Flush when a batch is full or the window has passed; otherwise nothing (no I/O)."""
        if self.pending and (
            len(self._records) >= BATCH or time.monotonic() - self._last_flush >= FLUSH_SECONDS
        ):
            self.flush(hub)

    def flush(self, hub: Hub) -> None:
        """Write what is pending. A failed write keeps the counts for the next flush; records
        that cannot be written are dropped (the counts still hold them)."""
        with self._lock:
            counts, records = self._counts, self._records
            self._counts, self._records = {}, []
            self._last_flush = time.monotonic()
        try:
            for connector_id, by_reason in counts.items():
                hub.store.count_events(connector_id, dict(by_reason))
        except Exception as exc:
            log.warning("could not write refusal counts", extra={"error": type(exc).__name__})
            with self._lock:
                for connector_id, by_reason in counts.items():
                    self._counts.setdefault(connector_id, Counter()).update(by_reason)
        try:
            if records:
                hub.store.put_deliveries(records, hub.settings.delivery_log_days)
        except Exception as exc:
            log.warning(
                "could not write the delivery log",
                extra={"error": type(exc).__name__, "dropped": len(records)},
            )

    def start_timer(self, hub: Hub, interval: float = 1.0) -> None:
        """Flush every `interval` seconds on a daemon thread, and at exit (the local hub)."""
        if self._timer is not None:
            return

        def run() -> None:
            while True:
                time.sleep(interval)
                if self.pending:
                    self.flush(hub)

        self._timer = threading.Thread(target=run, name="refusal-flush", daemon=True)
        self._timer.start()

        def flush_at_exit() -> None:
            if self.pending:
                self.flush(hub)

        atexit.register(flush_at_exit)


def emit_metric(connector_id: str, reason: str) -> None:
    """One EMF metric per refusal on Lambda (printed to stdout; CloudWatch turns it into a
    metric without an API call). Dimensions: configured connector ids and reason codes only,
    never a caller-chosen value, so junk cannot create metrics."""
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return  # locally the in-memory counts are the metrics
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(
        name="RefusedDeliveries", unit=MetricUnit.Count, value=1, namespace=METRIC_NAMESPACE
    ) as metric:
        metric.add_dimension(name="connector", value=connector_id)
        metric.add_dimension(name="reason", value=reason)
