"""The delivery log: one record per request to /webhooks/..., accepted or refused.

Refused requests and handshakes are written by the ingest side in batches (pipeline/delivery_log.py
buffers them); accepted ones by the processing side from the queue message, so the ack path
writes nothing. Each later step (processed, retrying, dead-lettered, replayed) appends to the
record's chain. Records expire after the retention period (settings.delivery_log_days).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# status: the latest step. refused and answered (a handshake) are final at ingest; an accepted
# delivery is queued until a worker records processed, retrying or dead_letter.
STATUSES = ("refused", "answered", "queued", "processed", "retrying", "dead_letter", "replayed")
ACCEPTED_STATUSES = ("queued", "processed", "retrying", "dead_letter", "replayed")


@dataclass
class DeliveryRecord:
    delivery_id: str
    connector_id: str
    received_at: datetime
    status: str
    http_status: int
    method: str = "POST"
    path: str = ""
    reason: str | None = None
    detail: str | None = None
    size: int = 0
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    chain: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The record without headers, body and chain (what a list shows)."""
        return {
            "delivery_id": self.delivery_id,
            "connector_id": self.connector_id,
            "received_at": self.received_at.isoformat(),
            "status": self.status,
            "http_status": self.http_status,
            "method": self.method,
            "reason": self.reason,
            "size": self.size,
        }

    def document(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "path": self.path,
            "detail": self.detail,
            "content_type": self.content_type,
            "headers": self.headers,
            "body": self.body,
            "chain": self.chain,
        }


class DeliveryLog(Protocol):
    def put_deliveries(self, records: list[DeliveryRecord], ttl_days: int) -> None:
        """Write new records (refusals and handshakes, in one batch)."""
        ...

    def record_delivery_step(self, record: DeliveryRecord, step: dict[str, Any], ttl_days: int) -> None:
        """Create the record if it is new (first step of an accepted delivery), set its status to
        step["status"] and append the step to its chain. One write, no read."""
        ...

    def get_delivery(self, delivery_id: str) -> DeliveryRecord | None: ...

    def deliveries_page(
        self, connector_id: str | None, statuses: tuple[str, ...] | None, limit: int, cursor: str | None
    ) -> tuple[list[DeliveryRecord], str | None]:
        """Newest first, all connectors' or one's, optionally only some statuses: (records, the
        opaque cursor of the next page or None). A page may hold fewer than `limit` records
        when a status filter is given; follow the cursor. Raises BadCursor."""
        ...

    def link_delivery_to_people(self, delivery_id: str, person_ids: list[str], ttl_days: int) -> None:
        """Remember that a logged body is about these people (their erasure scrubs it)."""
        ...

    def scrub_delivery_body(self, delivery_id: str) -> None:
        """Forget a logged body."""
        ...

    def scrub_deliveries_about(self, person_id: str) -> int:
        """Erasure: forget the logged bodies linked to the person, and the links; how many."""
        ...
