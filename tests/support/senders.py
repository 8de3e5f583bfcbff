"""Sign deliveries the way each provider documents it, independently of chalicelib's code,
so a wrong scheme in production cannot pass the tests by symmetry. Where the vendor ships a
signer, it signs: hubspot-api-client's Signature (HubSpot v3), standardwebhooks' Webhook
(Standard Webhooks); slack-sdk's in tests/social_senders.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

from hubspot.utils.signature import Signature as HubSpotSignature
from standardwebhooks import Webhook

from tests.support.fixture_folders import FIXTURES, fixture_secrets

SECRETS = fixture_secrets()  # every fixture folder's secrets.yaml


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str):
    return json.loads(fixture_bytes(name))


def b64_hmac(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def typeform_headers(body: bytes, secret: str = SECRETS["TEST_TYPEFORM_SECRET"]) -> dict[str, str]:
    """Typeform: Typeform-Signature: sha256=base64(HMAC-SHA256(secret, body))."""
    return {"Content-Type": "application/json", "Typeform-Signature": "sha256=" + b64_hmac(secret, body)}


def x_headers(body: bytes, secret: str = SECRETS["TEST_X_CONSUMER_SECRET"]) -> dict[str, str]:
    """X: x-twitter-webhooks-signature: sha256=base64(HMAC-SHA256(consumer secret, body))."""
    return {
        "Content-Type": "application/json",
        "x-twitter-webhooks-signature": "sha256=" + b64_hmac(secret, body),
    }


def hubspot_headers(
    body: bytes,
    uri: str,
    *,
    method: str = "POST",
    timestamp_ms: int | None = None,
    secret: str = SECRETS["TEST_HUBSPOT_CLIENT_SECRET"],
) -> dict[str, str]:
    """HubSpot v3: base64(HMAC-SHA256(client secret, method + uri + body + timestamp)), signed by
    hubspot-api-client's own Signature.get_signature. The SDK signs text: a body that is not
    UTF-8 (the fuzz suite's) gets the signature of its replacement text, which the hub refuses."""
    ts = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    signature = HubSpotSignature.get_signature(
        secret, body.decode("utf-8", "replace"), "v3", http_uri=uri, http_method=method, timestamp=ts
    )
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": ts,
    }


def standard_webhooks_headers(
    body: bytes, secret: str, msg_id: str, *, timestamp: int | None = None
) -> dict[str, str]:
    """Standard Webhooks, signed by the `standardwebhooks` reference library."""
    stamp = int(timestamp if timestamp is not None else time.time())
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(stamp, UTC), body.decode("utf-8"))
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
    }
