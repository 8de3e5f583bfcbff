"""The source conformance suite, generated from the provider registry (not from a list of samples):
every registered source must ship samples in its fixture folder (tests/fixtures/<folder>/samples.py),
and each sample runs the same checks through the real ingest step. A source without a sample fails.

Checks per sample: the declared media type is accepted and other types answer 415; a signed delivery
is acknowledged and queued once; without the operator's secret, unsigned, tampered (when the scheme
signs the body) and stale (when it signs a time) deliveries answer 401 and queue nothing; verify()
compares with hmac.compare_digest; parse() yields Interactions whose envelope is the builder's.
Every handshake method a source declares has a vendor-shaped case whose answer the vendor would
accept; a handshake that proves the secret is not answered that way by a hub holding another one.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import responses

from tests.support.samples import (
    HOST,
    Handshake,
    Sample,
    handshake_cases,
    registered_sources,
    samples_of,
    source_cases,
)
from tests.support.senders import FIXTURES

SOURCES = registered_sources()  # listeners have their own contract: tests/conformance/test_listeners.py


CASES = source_cases()
HANDSHAKES = handshake_cases()


def request(sample: Sample, now: float | None = None, body: bytes | None = None, signed: bool = True):
    from chalicelib.providers.base import InboundRequest

    now = time.time() if now is None else now
    body = sample.body if body is None else body
    headers, query = sample.sign(body, HOST + sample.path, now)
    if not signed:
        headers = {k: v for k, v in headers.items() if k.lower() == "content-type"}
        query, body = {}, sample.unsigned(body)
    return InboundRequest(
        "POST",
        HOST + sample.path + ("?" + urlencode(query) if query else ""),
        sample.path,
        {k.lower(): v for k, v in headers.items()},
        query,
        body,
    )


def receive(hub, sample: Sample, inbound):
    from chalicelib.pipeline.ingest import receive_webhook

    before = len(hub.ingest_queue.messages)
    answer = receive_webhook(hub, sample.connector_id, inbound)
    return answer, len(hub.ingest_queue.messages) - before


def error_of(answer) -> str:
    body = answer.body if isinstance(answer.body, dict) else json.loads(answer.body)
    error = body["error"]
    return error["code"] if isinstance(error, dict) else error


@pytest.mark.parametrize("name,sample", CASES)
def test_the_source_ships_a_sample_for_its_connector(name, sample):
    assert sample is not None, (
        f"registered source '{name}' has no sample: add one to tests/fixtures/<folder>/samples.py "
        "(see docs/adding-a-provider.md)"
    )
    from tests.conformance.conftest import connector_set

    connector = connector_set().get(sample.connector_id)
    assert connector is not None and connector.provider == name
    assert (FIXTURES / sample.fixture).is_file()


@pytest.mark.parametrize("name,sample", [c for c in CASES if c.values[1] is not None])
class TestSource:
    def test_its_documented_media_type_is_accepted_and_queued_once(self, name, sample, hub):
        answer, queued = receive(hub, sample, request(sample))
        assert answer.status in (200, 202, 204), answer.body
        assert queued == 1

    def test_every_declared_media_type_is_accepted(self, name, sample, hub):
        """Each of `content_types` (SurveyMonkey's vendor type as much as application/json),
        with the sample's own parameters (a multipart boundary) kept."""
        from chalicelib.providers import get_source

        signed = request(sample)
        _, _, params = signed.headers.get("content-type", "").partition(";")
        for declared in get_source(name).content_types:
            headers = {**signed.headers, "content-type": declared + (";" + params if params else "")}
            inbound = type(signed)(signed.method, signed.url, signed.path, headers, signed.query, signed.body)
            answer, queued = receive(hub, sample, inbound)
            assert answer.status in (200, 202, 204) and queued == 1, (declared, answer.status, answer.body)

    def test_an_undeclared_media_type_is_415(self, name, sample, hub):
        inbound = request(sample)
        headers = {**inbound.headers, "content-type": "application/x-chorus-undeclared"}
        other = type(inbound)(inbound.method, inbound.url, inbound.path, headers, inbound.query, inbound.body)
        answer, queued = receive(hub, sample, other)
        assert (answer.status, queued) == (415, 0)

    def test_without_the_operators_secret_it_is_401(self, name, sample, wrong_hub):
        if name == "youtube" and not wrong_hub.connectors.get(sample.connector_id).has_secret("signing"):
            pytest.skip("WebSub's hub.secret is optional")  # the test connector sets one
        answer, queued = receive(wrong_hub, sample, request(sample))
        assert (answer.status, queued) == (401, 0), answer.body

    def test_unsigned_is_401(self, name, sample, hub):
        answer, queued = receive(hub, sample, request(sample, signed=False))
        assert (answer.status, queued) == (401, 0), answer.body

    def test_a_tampered_body_is_401(self, name, sample, hub):
        if not sample.signs_body:
            pytest.skip(f"{name}: a shared secret vouches for the delivery, the body is not signed")
        signed = request(sample)
        tampered = type(signed)(
            signed.method, signed.url, signed.path, signed.headers, signed.query, signed.body + b" "
        )
        answer, queued = receive(hub, sample, tampered)
        assert (answer.status, queued) == (401, 0), answer.body

    @pytest.mark.parametrize("skew", [-3600, 3600])
    def test_a_stale_timestamp_is_401(self, name, sample, skew, hub):
        if not sample.timestamped:
            pytest.skip(f"{name}: the scheme signs no timestamp")
        answer, queued = receive(hub, sample, request(sample, now=time.time() + skew))
        assert (answer.status, queued, error_of(answer)) == (401, 0, "stale_timestamp")

    def test_verify_compares_in_constant_time(self, name, sample, hub, wrong_hub, monkeypatch):
        from chalicelib.errors import ChorusError
        from chalicelib.providers import get_source

        compared = []
        real = hmac.compare_digest
        monkeypatch.setattr(hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
        connector, source, now = hub.connectors.get(sample.connector_id), get_source(name), time.time()
        source.verify(request(sample, now), connector, now)
        assert compared, f"{name}.verify accepted a delivery without hmac.compare_digest"
        compared.clear()
        with pytest.raises(ChorusError):  # signed, but not with the secret this hub holds
            source.verify(request(sample, now), wrong_hub.connectors.get(sample.connector_id), now)
        assert compared, f"{name}: a wrongly signed delivery was judged without compare_digest"

    @responses.activate
    def test_parse_builds_the_envelope_of_every_interaction(self, name, sample, hub, monkeypatch):
        from chalicelib.providers import get_source
        from chalicelib.providers.base import Delivery, ParseContext, Skipped, interaction_id
        from chalicelib.schema import Interaction

        monkeypatch.setattr("chalicelib.providers.http._sleep", lambda seconds: None)
        for fragment, fixture in sample.api.items():
            for method in (responses.GET, responses.POST):
                responses.add(
                    method,
                    re.compile(".*" + re.escape(fragment) + ".*"),
                    json=json.loads((FIXTURES / fixture).read_bytes()),
                )
        inbound = request(sample)
        connector = hub.connectors.get(sample.connector_id)
        delivery = Delivery(
            connector=connector,
            body=inbound.body,
            headers=inbound.headers,
            query=inbound.query,
            content_type=inbound.content_type,
            url=inbound.url,
            received_at=datetime.now(UTC),
        )
        import requests

        results = list(get_source(name).parse(delivery, ParseContext(datetime.now(UTC), requests.Session())))
        interactions = [r for r in results if isinstance(r, Interaction)]
        assert all(isinstance(r, (Interaction, Skipped)) for r in results)
        assert interactions, f"{name}'s sample yields no interaction: {results}"
        for found in interactions:
            assert (found.connector_id, found.provider) == (connector.id, name)
            assert found.interaction_id == interaction_id(connector.id, found.external_id)
            assert found.event_id and found.occurred_at.tzinfo is not None


@pytest.mark.parametrize("name", [n for n in SOURCES if n])
def test_a_handshake_request_without_its_parameters_is_refused_not_a_500(name, hub):
    """Every declared GET/HEAD handshake answers a bare request with a 2xx/4xx, never a 500."""
    from chalicelib.pipeline.ingest import receive_webhook
    from chalicelib.providers import get_source
    from chalicelib.providers.base import InboundRequest

    samples = samples_of(name)
    if not samples:
        pytest.fail(f"registered source '{name}' has no sample")
    for method in ("GET", "HEAD"):
        bare = InboundRequest(method, HOST + samples[0].path, samples[0].path, {}, {}, b"")
        answer = receive_webhook(hub, samples[0].connector_id, bare)
        expected = {200, 204, 401, 403} if method in get_source(name).handshake_methods else {405}
        assert answer.status in expected, (method, answer.status, answer.body)


def _handshake_request(sample: Sample, handshake: Handshake):
    from chalicelib.providers.base import InboundRequest

    headers = {k.lower(): v for k, v in handshake.headers(handshake.body, time.time()).items()}
    query = "?" + urlencode(handshake.query) if handshake.query else ""
    return InboundRequest(
        handshake.method,
        HOST + sample.path + query,
        sample.path,
        headers,
        dict(handshake.query),
        handshake.body,
    )


def _answer_bytes(answer) -> bytes:
    body = answer.body
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode()
    return body.encode() if isinstance(body, str) else (body or b"")


@pytest.mark.parametrize("name,sample,handshake", HANDSHAKES)
def test_the_vendors_handshake_gets_the_answer_its_docs_require(name, sample, handshake, hub, wrong_hub):
    from chalicelib.providers import get_source

    assert handshake is not None, (
        f"'{name}' answers handshakes on {get_source(name).handshake_methods} but no sample declares a "
        "Handshake for each: add one to its tests/fixtures/<folder>/samples.py"
    )
    assert handshake.method in get_source(name).handshake_methods
    answer, queued = receive(hub, sample, _handshake_request(sample, handshake))
    assert queued == 0, "a handshake is never queued as a delivery"
    assert handshake.expect(answer.status, _answer_bytes(answer)), (answer.status, answer.body)
    if handshake.proves_secret:
        answer, queued = receive(wrong_hub, sample, _handshake_request(sample, handshake))
        assert queued == 0 and not handshake.expect(answer.status, _answer_bytes(answer)), (
            "a hub without the connector's secret gave the answer that proves it"
        )
