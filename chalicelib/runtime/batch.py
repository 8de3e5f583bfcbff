"""SQS batch handling with partial failure, shared by the Lambda handlers and the local hub.

Each record is handled alone; the ones that fail are reported in `batchItemFailures` so
SQS retries only them (the packaged template turns on ReportBatchItemFailures, which
Chalice does not). A record that can never succeed goes to the dead-letter store at once.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from ..hub import Hub
from ..pipeline.delivery_log import record_processed, record_step
from ..pipeline.process import PermanentFailure, process_message
from ..store.base import DeadLetter
from ..sync.engine import run_sync

log = logging.getLogger("chorus_hub.batch")


def handle_ingest_batch(hub: Hub, records: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    failures = []
    for record in records:
        message_id = record["messageId"]
        message: Any = None
        try:
            message = json.loads(record["body"])
            outcome = process_message(hub, message)
            record_processed(hub, message, outcome)
        except PermanentFailure as exc:
            letter_id = _dead_letter(hub, "ingest", message, str(exc), record)
            record_step(
                hub, message, {"status": "dead_letter", "dead_letter_id": letter_id, "reason": str(exc)}
            )
        except (ValueError, KeyError) as exc:
            _dead_letter(
                hub,
                "ingest",
                {"raw": record.get("body", "")[:1000]},
                f"unreadable queue message: {type(exc).__name__}",
                record,
            )
        except Exception as exc:  # retried by SQS, then its DLQ; the type is enough for the log
            log.warning(
                "delivery failed, will be retried",
                extra={"message_id": message_id, "error": type(exc).__name__},
            )
            failures.append({"itemIdentifier": message_id})
            if isinstance(message, dict):
                record_step(
                    hub,
                    message,
                    {"status": "retrying", "attempt": _attempts(record), "error": type(exc).__name__},
                )
    _flush_pulse(hub)
    return {"batchItemFailures": failures}


def _flush_pulse(hub: Hub) -> None:
    """The batch's pulse counts, one write per counter (pipeline/pulse.py). A failed write loses
    those counts, never the batch: the interactions are stored."""
    try:
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
