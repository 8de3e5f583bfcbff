"""Signature schemes as pure functions of (header values, raw bytes, secret, now).

Every comparison is constant-time. Each function returns nothing or raises a named
error: SignatureMissing, SignatureMismatch or TimestampStale. Providers that share a
scheme share the function (HMAC-SHA256 hex with a `sha256=` prefix serves several).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ..errors import SignatureMismatch, SignatureMissing, TimestampStale

Encoding = Literal["hex", "base64"]


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def hmac_digest(key: str | bytes, message: str | bytes, algorithm: str = "sha256") -> bytes:
    # hmac.digest with a name runs OpenSSL's one-shot HMAC: about a third cheaper than hmac.new
    return hmac.digest(_as_bytes(key), _as_bytes(message), algorithm)


def encode_digest(digest: bytes, encoding: Encoding) -> str:
    return digest.hex() if encoding == "hex" else binascii.b2a_base64(digest, newline=False).decode("ascii")


def sign(
    key: str | bytes,
    message: str | bytes,
    *,
    algorithm: str = "sha256",
    encoding: Encoding = "hex",
    prefix: str = "",
) -> str:
    """The header value a sender would put on `message`."""
    return prefix + encode_digest(hmac_digest(key, message, algorithm), encoding)


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def verify_hmac(
    received: str | None,
    *,
    key: str | bytes,
    message: str | bytes,
    algorithm: str = "sha256",
    encoding: Encoding = "hex",
    prefix: str = "",
) -> None:
    """Check one header value against HMAC(key, message). Hex compares case-insensitively."""
    if not received:
        raise SignatureMissing("signature header is missing")
    received = received.strip()
    if prefix:
        if not received.lower().startswith(prefix.lower()):
            raise SignatureMismatch(f"signature does not start with {prefix!r}")
        received = received[len(prefix) :]
    expected = encode_digest(hmac_digest(key, message, algorithm), encoding)
    if encoding == "hex":
        received = received.lower()
    if not constant_time_equals(received, expected):
        raise SignatureMismatch("signature does not match")


def verify_shared_secret(received: str | None, expected: str, what: str) -> None:
    """A static secret the sender echoes back (URL token, header value, basic-auth password),
    for providers that sign nothing. Constant time."""
    if not received:
        raise SignatureMissing(f"{what} is missing")
    if not constant_time_equals(received, expected):
        raise SignatureMismatch(f"{what} does not match")


@dataclass(frozen=True)
class BodySignature:
    """The most common scheme: one header holding HMAC(secret, raw body), e.g.
    `X-Hub-Signature-256: sha256=<hex>`. A provider declares it instead of writing verify()."""

    header: str
    algorithm: str = "sha256"
    encoding: Encoding = "hex"
    prefix: str = ""

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        verify_hmac(
            headers.get(self.header),
            key=secret,
            message=body,
            algorithm=self.algorithm,
            encoding=self.encoding,
            prefix=self.prefix,
        )

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        """The header a sender would put on `body`."""
        value = sign(secret, body, algorithm=self.algorithm, encoding=self.encoding, prefix=self.prefix)
        return {self.header: value}


def parse_timestamp(value: str | None, unit: Literal["s", "ms", "iso"] = "s") -> float:
    """Seconds since the epoch from a header value; a missing or garbled one is 'missing'."""
    if not value:
        raise SignatureMissing("timestamp header is missing")
    try:
        if unit == "iso":
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).timestamp()
        number = float(value.strip())
    except ValueError:
        raise SignatureMissing("timestamp header is not a timestamp") from None
    if not math.isfinite(number):  # nan passes any window comparison; inf is never a moment
        raise SignatureMissing("timestamp header is not a finite number")
    return number / 1000.0 if unit == "ms" else number


def check_timestamp(signed_at: float, now: float, tolerance_seconds: float) -> None:
    """Reject a signed timestamp outside the replay window (either side of now, for clock skew)."""
    if abs(now - signed_at) > tolerance_seconds:
        raise TimestampStale(
            f"timestamp is {int(now - signed_at)} s from now (window {int(tolerance_seconds)} s)"
        )


def verify_standard_webhooks(
    headers: Mapping[str, str], body: bytes, secret: str, now: float, tolerance_seconds: float = 300
) -> None:
    """Standard Webhooks: `webhook-signature` holds space-separated `v1,<base64>` entries over
    `{id}.{timestamp}.{body}`, keyed with the base64 part of a `whsec_` secret. Any entry may match."""
    msg_id = headers.get("webhook-id")
    signatures = headers.get("webhook-signature")
    if not msg_id or not signatures:
        raise SignatureMissing("webhook-id or webhook-signature header is missing")
    signed_at = parse_timestamp(headers.get("webhook-timestamp"), "s")
    check_timestamp(signed_at, now, tolerance_seconds)
    key = standard_webhooks_key(secret)
    message = b"%s.%s.%s" % (msg_id.encode(), headers["webhook-timestamp"].strip().encode(), body)
    expected = encode_digest(hmac_digest(key, message), "base64")
    matched = False
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version == "v1" and constant_time_equals(value, expected):
            matched = True  # keep looping: the time taken must not depend on which entry matched
    if not matched:
        raise SignatureMismatch("no webhook-signature entry matches")


def standard_webhooks_key(secret: str) -> bytes:
    raw = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureMismatch("signing secret is not a valid whsec_ secret") from None


def sign_standard_webhooks(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    message = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    return "v1," + encode_digest(hmac_digest(standard_webhooks_key(secret), message), "base64")
