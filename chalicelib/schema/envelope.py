"""Queue messages: a raw delivery waiting to be processed, and a CRM sync job."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .common import Model, UtcDatetime


class Envelope(Model):
    """A verified delivery, exactly as received. The body travels inline (base64) or,
    when too big for a queue message, as a pointer to the blob store (claim check)."""

    envelope_id: str
    connector_id: str
    provider: str
    received_at: UtcDatetime
    method: str
    url: str
    content_type: str
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    body_b64: str | None = None
    body_ref: str | None = None
    delivery: dict[str, Any] | None = Field(
        default=None,
        description="For the delivery log: the status answered, size, logged path and redacted headers.",
    )


class SyncJob(Model):
    person_id: str
    connector_id: str
    requested_at: UtcDatetime
    attempt: int = 0  # deliveries tried so far, for a sink with a retry schedule
    not_before: UtcDatetime | None = None  # a scheduled retry: not sent before this time
    # The person's updated_at the job was computed from, when it was queued before the store work
    # committed (SQLite's batch transaction): an older person read means "not visible yet".
    person_updated_at: UtcDatetime | None = None
