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

from tests.support.paths import FIXTURES  # noqa: E402

SECRETS = {
    "TEST_TYPEFORM_SECRET": "tf-secret-0123",
    "TEST_X_CONSUMER_SECRET": "x-consumer-secret-4567",
    "TEST_HUBSPOT_CLIENT_SECRET": "hs-client-secret-89ab",
    "TEST_HUBSPOT_ACCESS_TOKEN": "pat-na1-test-token",
    "TEST_SURVEYMONKEY_API_SECRET": "sm-api-secret-1d2e",
    "TEST_SURVEYMONKEY_ACCESS_TOKEN": "sm-access-token-3f4a",
    "TEST_QUALTRICS_URL_TOKEN": "qx-url-token-5b6c7d8e9f",
    "TEST_QUALTRICS_API_TOKEN": "qx-api-token-0a1b",
    "TEST_DELIGHTED_API_KEY": "dl-api-key-2c3d",
    "TEST_JOTFORM_URL_TOKEN": "jf-url-token-4e5f6a7b8c",
    "TEST_ZENDESK_SIGNING_SECRET": "zd-signing-secret-9d0e",
    "TEST_ACME_SIGNING_SECRET": "acme-secret-1f2a",
    "CHORUS_ADMIN_TOKEN": "admin-token-cdef",
    "TEST_SALESFORCE_URL_TOKEN": "sf-url-token-5d1e",
    "TEST_SALESFORCE_CLIENT_ID": "3MVG9sf-client-id",
    "TEST_SALESFORCE_CLIENT_SECRET": "sf-client-secret-77",
    "TEST_ZOHO_CHANNEL_TOKEN": "TOKEN_FOR_VERIFICATION_OF_1000000068001",
    "TEST_ZOHO_CLIENT_ID": "1000.ZOHOCLIENTID",
    "TEST_ZOHO_CLIENT_SECRET": "zoho-client-secret-99",
    "TEST_ZOHO_REFRESH_TOKEN": "1000.zoho-refresh-token",
    "TEST_PIPEDRIVE_WEBHOOK_PASSWORD": "pd-basic-pass-4242",
    "TEST_PIPEDRIVE_API_TOKEN": "pd-api-token-0101",
    "TEST_DYNAMICS_WEBHOOK_KEY": "dyn-header-key-6060",
    "TEST_DYNAMICS_CLIENT_ID": "dyn-client-id",
    "TEST_DYNAMICS_CLIENT_SECRET": "dyn-client-secret-31",
    "TEST_WEBHOOK_SINK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "TEST_SW_SOURCE_SECRET": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    "TEST_WEBHOOK_SINK_SECRET_OLD": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    "TEST_META_APP_SECRET": "meta-app-secret-1357",
    "TEST_META_VERIFY_TOKEN": "meta-verify-token-2468",
    "TEST_DISCOURSE_SECRET": "discourse-secret-97531",
    "TEST_SLACK_SIGNING_SECRET": "slack-signing-8642",
    "TEST_YOUTUBE_HUB_SECRET": "yt-hub-secret-1122",
    "TEST_REDDIT_CLIENT_ID": "reddit-app-id-p9Xk",
    "TEST_SLACK_BOT_TOKEN": "xoxb-test-bot-token-51",
    "TEST_REDDIT_CLIENT_SECRET": "reddit-app-secret-7Qw2",
    "TEST_INTERCOM_CLIENT_SECRET": "ic-client-secret-3344",
    "TEST_X_OAUTH2_CLIENT_SECRET": "x-oauth2-client-secret-5566",
}


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
    hubspot-api-client's own Signature.get_signature."""
    ts = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    signature = HubSpotSignature.get_signature(
        secret, body.decode("utf-8"), "v3", http_uri=uri, http_method=method, timestamp=ts
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
