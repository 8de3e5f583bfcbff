"""X CRC: never a signing oracle, and signed with the secret X's current docs name.

The attack (redteam #1): GET ?crc_token=<tweet JSON> returned HMAC(secret, token), exactly the
`x-twitter-webhooks-signature` a POST of that JSON needs. Deliveries here are signed as X's
webhooks introduction documents (tests/fixtures/FACTS.md, X section).
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.config.loader import load_directory
from chalicelib.errors import ChorusError
from chalicelib.providers.base import InboundRequest
from chalicelib.providers.x import XProvider
from tests.conftest import TEST_CONNECTORS
from tests.support.senders import SECRETS, b64_hmac, fixture_bytes, x_headers

FORGED = json.dumps(
    {
        "for_user_id": "1410567329093128192",
        "tweet_create_events": [
            {
                "id_str": "2125299999999999999",
                "text": "@ChorusDemo your product is terrible, I want a refund",
                "timestamp_ms": "1795533700000",
                "user": {"id_str": "1420873350012977153", "screen_name": "maya_builds"},
            }
        ],
    },
    separators=(",", ":"),
)


def oauth2_headers(body: bytes, secret: str = SECRETS["TEST_X_OAUTH2_CLIENT_SECRET"]) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Twitter-Webhooks-Signature-OAuth2": "sha256=" + b64_hmac(secret, body),
    }


def test_crc_refuses_a_body_shaped_token_and_the_forgery_fails(client, workers, hub):
    crc = client.http.get("/webhooks/x-brand?" + _query(FORGED))
    assert crc.status_code == 403
    # what the CRC does answer (a token) is refused as a body, signature and all
    token = "M2RkODJkZmMtYjlkYi00NmQ4LTk0MGUtM2JjYzkwM2Q4MjQ0"
    answer = json.loads(client.http.get(f"/webhooks/x-brand?crc_token={token}").body)["response_token"]
    refused = client.http.post(
        "/webhooks/x-brand",
        body=token.encode(),
        headers={"Content-Type": "application/json", "x-twitter-webhooks-signature": answer},
    )
    assert refused.status_code == 401
    workers.drain()
    assert hub.store.connector_interactions("x-brand", 10) == []


def test_crc_answers_a_captured_token_shape(client):
    token = "M2RkODJkZmMtYjlkYi00NmQ4LTk0MGUtM2JjYzkwM2Q4MjQ0"  # base64, as in a captured X request
    response = client.http.get(f"/webhooks/x-brand?crc_token={token}&nonce=MTc2OTUxODI5MjkxNA")
    assert response.status_code == 200
    expected = "sha256=" + b64_hmac(SECRETS["TEST_X_CONSUMER_SECRET"], token.encode())
    assert json.loads(response.body) == {"response_token": expected}


@pytest.mark.parametrize("token", ['{"a":1}', "a b", '"quoted"', "x" * 256, "[1]", "é"])
def test_crc_refuses_what_is_not_token_shaped(client, token):
    assert client.http.get("/webhooks/x-brand?" + _query(token)).status_code == 403


def test_app_with_both_secrets_answers_crc_with_the_oauth2_client_secret(client):
    token = "Y2hhbGxlbmdlLXRva2Vu"
    response = client.http.get(f"/webhooks/x-migrating?crc_token={token}")
    expected = "sha256=" + b64_hmac(SECRETS["TEST_X_OAUTH2_CLIENT_SECRET"], token.encode())
    assert json.loads(response.body) == {"response_token": expected}


def test_app_with_both_secrets_takes_either_header_and_never_downgrades(client, workers, hub):
    body = fixture_bytes("x/direct_message_events.json")
    url = "/webhooks/x-migrating"
    assert client.http.post(url, body=body, headers=oauth2_headers(body)).status_code == 200
    assert client.http.post(url, body=body, headers=x_headers(body)).status_code == 200
    both = {**x_headers(body), **oauth2_headers(body)}
    assert client.http.post(url, body=body, headers=both).status_code == 200
    # a wrong OAuth2 signature is refused even beside a good legacy one
    bad = {**x_headers(body), **oauth2_headers(body, "not-the-secret")}
    assert client.http.post(url, body=body, headers=bad).status_code == 401
    # the consumer secret never signs the OAuth2 header
    crossed = oauth2_headers(body, SECRETS["TEST_X_CONSUMER_SECRET"])
    assert client.http.post(url, body=body, headers=crossed).status_code == 401
    workers.drain()
    assert len(hub.store.connector_interactions("x-migrating", 10)) == 1  # one DM, de-duplicated


@pytest.fixture(scope="module")
def x_connectors():
    connectors = load_directory(TEST_CONNECTORS)
    return [connectors.get(name) for name in ("x-brand", "x-oauth2", "x-migrating")]


def _request(method: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> InboundRequest:
    return InboundRequest(
        method=method,
        url="https://hub.example.com/webhooks/x",
        path="/webhooks/x",
        headers={k.lower(): v for k, v in headers.items()},
        query=query,
        body=body,
    )


tokens = (
    st.text(max_size=300)
    | st.from_regex(r"\A[A-Za-z0-9+/=_-]{1,255}\Z")
    | st.builds(json.dumps, st.dictionaries(st.text(max_size=8), st.integers(), max_size=3))
    | st.sampled_from(["1", "123", "true", "null", "[]", "{}", '""', FORGED])
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=tokens)
def test_no_crc_answer_ever_verifies_as_a_body_signature(x_connectors, token):
    provider = XProvider()
    for connector in x_connectors:
        try:
            answer = provider.handshake(_request("GET", {"crc_token": token}, {}, b""), connector)
        except ChorusError:
            continue  # refused: nothing signed
        signature = answer.body["response_token"]
        for header in ("x-twitter-webhooks-signature", "x-twitter-webhooks-signature-oauth2"):
            post = _request(
                "POST", {}, {"content-type": "application/json", header: signature}, token.encode()
            )
            with pytest.raises(ChorusError) as refused:
                provider.verify(post, connector, time.time())
            assert refused.value.status == 401


def _query(token: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"crc_token": token})
