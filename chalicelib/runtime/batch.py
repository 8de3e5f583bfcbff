"""SQS batch handling with partial failure, shared by the Lambda handlers and the local hub.

Each record is handled alone; the ones that fail are reported in `batchItemFailures` so
SQS retries only them (the packaged template turns on ReportBatchItemFailures, which
Chalice does not). A record that can never succeed goes to the dead-letter store at once.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import Any

from ..hub import Hub
from ..pipeline.delivery_log import record_processed, record_step
from ..pipeline.process import (
    PermanentFailure,
    PreparedMessage,
    prepare_message,
    send_sync_jobs,
    store_message,
)
from ..store.base import DeadLetter
from ..sync.engine import run_sync

log = logging.getLogger("chorus_hub.batch")


def handle_ingest_batch(hub: Hub, records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """Every record is parsed and enriched first, outside any transaction; then the batch's store
    work is one transaction (SQLite: one BEGIN IMMEDIATE ... COMMIT, so a second worker process
    waits only for the writes), each record inside it a savepoint of its own: a record that
    fails rolls back alone and is retried, the others commit. On such a store the batch's sync
    jobs are sent in one queue write just before the commit (a crash before it sends them again
    with the redelivered batch); on DynamoDB each interaction's before its de-dup marker."""
    failures: list[dict[str, str]] = []
    prepared: list[tuple[dict[str, Any], dict, PreparedMessage]] = []
    for record in records:
        message: Any = None
        try:
            message = json.loads(record["body"])
            prepared.append((record, message, prepare_message(hub, message)))
        except Exception as exc:
            _record_failed(hub, record, message, exc, failures)
    jobs: list[dict] = []
    seen: dict[str, datetime] = {}  # connector -> latest delivery of the batch
    together = bool(getattr(hub.store, "TRANSACTIONAL", False))  # else each write stands alone
    with hub.store.atomic():
        for record, message, ready in prepared:
            try:
                with hub.store.atomic():  # a savepoint: this record's work commits or not, alone
                    outcome = store_message(hub, ready, send_jobs=not together)
                    record_processed(hub, message, outcome)
            except Exception as exc:
                _record_failed(hub, record, message, exc, failures)
                continue
            jobs += outcome.jobs
            connector_id, received_at = ready.connector.id, ready.envelope.received_at
            seen[connector_id] = max(received_at, seen.get(connector_id, received_at))
        for connector_id, received_at in seen.items():  # for GET /admin/connectors
            hub.store.touch_connector(connector_id, received_at)
        _flush_pulse(hub)
        send_sync_jobs(hub, jobs)
    return {"batchItemFailures": failures}


def _record_failed(
    hub: Hub, record: dict[str, Any], message: Any, exc: Exception, failures: list[dict[str, str]]
) -> None:
    """A record that did not go through: dead-lettered when it never can, else retried."""
    if isinstance(exc, PermanentFailure):
        letter_id = _dead_letter(hub, "ingest", message, str(exc), record)
        record_step(hub, message, {"status": "dead_letter", "dead_letter_id": letter_id, "reason": str(exc)})
    elif isinstance(exc, (ValueError, KeyError)):
        _dead_letter(
            hub,
            "ingest",
            {"raw": record.get("body", "")[:1000]},
            f"unreadable queue message: {type(exc).__name__}",
            record,
        )
    else:  # retried by SQS, then its DLQ; the type is enough for the log
        log.warning(
            "delivery failed, will be retried",
            extra={"message_id": record["messageId"], "error": type(exc).__name__},
        )
        failures.append({"itemIdentifier": record["messageId"]})
        if isinstance(message, dict):
            record_step(
                hub,
                message,
                {"status": "retrying", "attempt": _attempts(record), "error": type(exc).__name__},
            )


def _flush_pulse(hub: Hub) -> None:
    """The batch's pulse counts, one write per counter (pipeline/pulse.py). A failed write loses
    those counts, never the batch: the interactions are stored."""
    try:
        with hub.store.atomic():  # inside the batch's transaction: a savepoint, undone if it fails
            hub.pulse.flush(hub)
    except Exception as exc:
        log.warning("could not write pulse counters", extra={"error": type(exc).__name__})


def handle_sync_batch(hub: Hub, records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    messages: dict[str, dict] = {}
    failures = []
    for record in records:
        try:
            messages[record["messageId"]] = json.loads(record["body"])
        except ValueError:
            _dead_letter(
                hub, "sync", {"raw": record.get("body", "")[:1000]}, "unreadable sync message", record
            )
    try:
        outcome = run_sync(hub, messages)
        failures = [{"itemIdentifier": m} for m in sorted(outcome.failed_messages)]
        handles = {r["messageId"]: r.get("receiptHandle") for r in records}
        for message_id, delay in outcome.retry_after.items():
            _retry_later(hub, handles.get(message_id), delay)
    except Exception as exc:
        log.warning("sync batch failed, will be retried", extra={"error": type(exc).__name__})
        failures = [{"itemIdentifier": m} for m in messages]
    return {"batchItemFailures": failures}


def _retry_later(hub: Hub, receipt_handle: str | None, delay: float) -> None:
    """Hold a failed message back for `delay` seconds (a CRM's Retry-After) instead of the
    queue's visibility timeout. Best effort: without it SQS still redelivers the message."""
    if not receipt_handle:
        return
    try:
        hub.sync_queue.retry_later(receipt_handle, delay)
    except Exception as exc:
        log.warning("could not delay a throttled message", extra={"error": type(exc).__name__})


def handle_dead_letter_batch(hub: Hub, stage: str, records: list[dict[str, Any]]) -> dict[str, list]:
    """Messages SQS gave up on (maxReceiveCount reached) become visible, replayable dead letters."""
    for record in records:
        try:
            message = json.loads(record["body"])
        except ValueError:
            message = {"raw": record.get("body", "")[:1000]}
        letter_id = _dead_letter(hub, stage, message, "retries exhausted", record)
        if stage == "ingest":
            record_step(
                hub,
                message,
                {"status": "dead_letter", "dead_letter_id": letter_id, "reason": "retries exhausted"},
            )
    return {"batchItemFailures": []}


def _attempts(record: dict[str, Any]) -> int:
    return int((record.get("attributes") or {}).get("ApproximateReceiveCount", "0") or 0)


def _dead_letter(hub: Hub, stage: str, message: dict, reason: str, record: dict[str, Any]) -> str:
    attempts = _attempts(record)
    connector_id = str(message.get("connector_id") or "unknown")
    letter_id = uuid.uuid4().hex
    hub.store.put_dead_letter(
        DeadLetter(
            dead_letter_id=letter_id,
            stage=stage,
            connector_id=connector_id,
            reason=reason,
            message=message,
            created_at=hub.clock(),
            attempts=attempts,
        )
    )
    log.warning("dead-lettered", extra={"stage": stage, "connector_id": connector_id, "reason": reason})
    return letter_id
