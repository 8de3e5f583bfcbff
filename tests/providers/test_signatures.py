"""The shared signature schemes, against values computed independently."""

import base64
import hashlib
import hmac

import pytest

from chalicelib.errors import SignatureMismatch, SignatureMissing, TimestampStale
from chalicelib.providers import signatures as sig


def test_hex_prefixed_hmac_accepts_the_right_signature_and_uppercase_hex():
    body = b'{"a":1}'
    good = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    sig.verify_hmac(good, key="k", message=body, prefix="sha256=")
    sig.verify_hmac("sha256=" + good[7:].upper(), key="k", message=body, prefix="sha256=")


@pytest.mark.parametrize(
    "header,error",
    [
        (None, SignatureMissing),
        ("", SignatureMissing),
        ("sha1=abc", SignatureMismatch),
        ("sha256=" + "0" * 64, SignatureMismatch),
    ],
)
def test_hex_prefixed_hmac_rejects(header, error):
    with pytest.raises(error):
        sig.verify_hmac(header, key="k", message=b"body", prefix="sha256=")


def test_base64_hmac_one_flipped_byte_in_the_body_fails():
    body = b'{"event_id":"x"}'
    good = base64.b64encode(hmac.new(b"s", body, hashlib.sha256).digest()).decode()
    sig.verify_hmac(good, key="s", message=body, encoding="base64")
    with pytest.raises(SignatureMismatch):
        sig.verify_hmac(good, key="s", message=body.replace(b"x", b"y"), encoding="base64")


def test_timestamp_window_both_sides():
    sig.check_timestamp(1000.0, now=1299.0, tolerance_seconds=300)
    with pytest.raises(TimestampStale):
        sig.check_timestamp(1000.0, now=1301.0, tolerance_seconds=300)
    with pytest.raises(TimestampStale):
        sig.check_timestamp(1400.0, now=1000.0, tolerance_seconds=300)


def test_timestamp_units_and_garbage():
    assert sig.parse_timestamp("1700000000000", "ms") == 1_700_000_000.0
    assert sig.parse_timestamp("2021-07-25T10:00:00Z", "iso") == 1627207200.0
    with pytest.raises(SignatureMissing):
        sig.parse_timestamp("yesterday", "s")


def test_standard_webhooks_any_of_several_signatures_matches():
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    body = b'{"type":"advocate.updated"}'
    message = b"msg_1.1700000000." + body
    good = base64.b64encode(
        hmac.new(b"0123456789abcdef0123456789abcdef", message, hashlib.sha256).digest()
    ).decode()
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": f"v1,bm9wZQ== v1,{good}",
    }
    sig.verify_standard_webhooks(headers, body, secret, now=1700000010)
    assert sig.sign_standard_webhooks("msg_1", 1700000000, body, secret) == f"v1,{good}"
    with pytest.raises(TimestampStale):
        sig.verify_standard_webhooks(headers, body, secret, now=1700000400)
    with pytest.raises(SignatureMismatch):
        sig.verify_standard_webhooks(
            {**headers, "webhook-signature": "v1,bm9wZQ=="}, body, secret, now=1700000010
        )


def test_verification_uses_constant_time_comparison(monkeypatch):
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(sig.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    with pytest.raises(SignatureMismatch):
        sig.verify_hmac("sha256=00", key="k", message=b"b", prefix="sha256=")
    assert calls, "signatures must be compared with hmac.compare_digest"
