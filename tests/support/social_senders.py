"""Signers for the social sources, written from each provider's documentation with plain
hmac/hashlib (never chalicelib's own code), so a wrong scheme cannot pass by symmetry; Slack's
is slack-sdk's own SignatureVerifier.generate_signature."""

from __future__ import annotations

import hashlib
import hmac
import time

from slack_sdk.signature import SignatureVerifier

from tests.support.senders import SECRETS


def hex_hmac(secret: str, message: bytes, algorithm=hashlib.sha256) -> str:
    return hmac.new(secret.encode(), message, algorithm).hexdigest()


def meta_headers(body: bytes, secret: str = SECRETS["TEST_META_APP_SECRET"]) -> dict[str, str]:
    """Meta: X-Hub-Signature-256: sha256=hex(HMAC-SHA256(app secret, body))."""
    return {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + hex_hmac(secret, body)}


def discourse_headers(
    body: bytes, event: str, secret: str = SECRETS["TEST_DISCOURSE_SECRET"], event_id: str = "1"
) -> dict[str, str]:
    """Discourse: X-Discourse-Event-Signature: sha256=hex(HMAC-SHA256(secret, body))."""
    return {
        "Content-Type": "application/json",
        "X-Discourse-Event": event,
        "X-Discourse-Event-Type": event.split("_")[0],
        "X-Discourse-Event-Id": event_id,
        "X-Discourse-Instance": "https://community.example.com",
        "X-Discourse-Event-Signature": "sha256=" + hex_hmac(secret, body),
    }


def slack_headers(
    body: bytes,
    timestamp: int | None = None,
    secret: str = SECRETS["TEST_SLACK_SIGNING_SECRET"],
    retry: int | None = None,
) -> dict[str, str]:
    """Slack: X-Slack-Signature: v0=hex(HMAC-SHA256(signing secret, 'v0:' + ts + ':' + body)),
    made by slack-sdk's SignatureVerifier (the counterpart of its is_valid)."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    try:
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    except UnicodeDecodeError:  # the SDK signs text; Slack never sends other bytes, attackers may
        signature = "v0=" + hex_hmac(secret, b"v0:" + ts.encode() + b":" + body)
    assert signature is not None
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }
    if retry is not None:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
    return headers


def websub_headers(body: bytes, secret: str = SECRETS["TEST_YOUTUBE_HUB_SECRET"]) -> dict[str, str]:
    """WebSub: X-Hub-Signature: sha1=hex(HMAC-SHA1(hub.secret, body))."""
    return {
        "Content-Type": "application/atom+xml",
        "X-Hub-Signature": "sha1=" + hex_hmac(secret, body, hashlib.sha1),
    }


def intercom_headers(body: bytes, secret: str = SECRETS["TEST_INTERCOM_CLIENT_SECRET"]) -> dict[str, str]:
    """Intercom: X-Hub-Signature: sha1=hex(HMAC-SHA1(client secret, body))."""
    return {
        "Content-Type": "application/json",
        "X-Hub-Signature": "sha1=" + hex_hmac(secret, body, hashlib.sha1),
    }
