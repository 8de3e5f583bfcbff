"""Named errors. Callers catch these, never a bare Exception or a string match.

Each inbound error carries the HTTP status the webhook route answers with, so the
route maps errors to honest statuses in one place.
"""

from __future__ import annotations


class ChorusError(Exception):
    """Base of every error Chorus raises on purpose."""

    status = 500
    reason = "internal_error"


class UnknownConnector(ChorusError):
    status = 404
    reason = "unknown_connector"


class SignatureMissing(ChorusError):
    status = 401
    reason = "missing_signature"


class SignatureMismatch(ChorusError):
    status = 401
    reason = "bad_signature"


class TimestampStale(ChorusError):
    status = 401
    reason = "stale_timestamp"


class HandshakeRejected(ChorusError):
    status = 403
    reason = "handshake_rejected"


class MalformedPayload(ChorusError):
    status = 400
    reason = "parse_error"


class SubscriptionNotWanted(ChorusError):
    """A WebSub hub verifies an action Chorus did not ask for (WebSub: answer 404)."""

    status = 404
    reason = "subscription_not_requested"


class PayloadTooLarge(ChorusError):
    status = 413
    reason = "payload_too_large"


class UnsupportedContentType(ChorusError):
    status = 415
    reason = "unsupported_content_type"


class MethodNotAllowed(ChorusError):
    status = 405
    reason = "method_not_allowed"


class ConfigError(ChorusError):
    """A connector file or setting is invalid. `problems` lists (file, field, message)."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{f}: {fld}: {msg}" for f, fld, msg in problems))


class SecretUnavailable(ChorusError):
    """A secret reference could not be resolved. The message names the reference, never the value;
    it goes to the log, and an HTTP caller gets only the status (503: the provider retries later)."""

    status = 503
    reason = "unavailable"


class UpstreamError(ChorusError):
    """A call to a provider's API failed (a CRM write, or a fetch for an id-only notification).

    `retryable` separates 429/5xx/timeouts (try again, honouring `retry_after` seconds) from
    permanent errors (validation, bad credentials) that go to the dead-letter store."""

    def __init__(
        self, message: str, *, retryable: bool, retry_after: float | None = None, status: int | None = None
    ):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.http_status = status
