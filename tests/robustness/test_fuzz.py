"""Property-based tests: every provider parser and the webhook route against arbitrary input.

A parser may only return Interactions and Skipped entries or raise MalformedPayload /
UpstreamError; the route may only answer 2xx or a documented 4xx, never a 500.
Examples per test: ~50 by default; HYPOTHESIS_PROFILE=thorough for 1,000.
"""

from __future__ import annotations

import json
import os
import string
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.samples import source_cases

# default: reproducible (derandomized) so `make test` is stable; thorough: random, 1,000 examples
settings.register_profile(
    "default",
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _kept_headers(name: str) -> tuple[str, ...]:
    from chalicelib.providers import get_source

    return get_source(name).kept_headers


CASES = source_cases()  # generated from the registry: a source without a sample fails here too
# every header a registered source's sample is sent with or its parser keeps: noise for each
SAMPLE_HEADERS = sorted(
    {k.lower() for case in CASES if case.values[1] for k in case.values[1].request()[1]}
    | {h for case in CASES for h in _kept_headers(case.values[0])}
)
DOCUMENTED_4XX = {400, 401, 403, 404, 405, 409, 413, 415, 422}

# JSON-ish values: wrong types, huge strings, odd unicode, deep nesting
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "",
            "x" * 70_000,
            "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
            "2026-11-24T15:00:00Z",
            "not a time",
            "-1",
            "1e400",
            "@",
            "a@b",
            "\x00",
            "🙂" * 50,
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)


def deep(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def mutate_sample(sample_body: bytes):
    """The sample's own JSON with one key's value replaced: close enough to pass the first checks."""
    try:
        data = json.loads(sample_body)
    except ValueError:
        return st.just(sample_body)

    paths: list[tuple] = []

    def walk(node, path):
        if len(paths) > 200:
            return
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node[:5]):
                walk(v, path + (i,))

    walk(data, ())

    def replace(path, value):
        copy = json.loads(sample_body)
        if not path:
            return json.dumps(value).encode()
        node = copy
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return json.dumps(copy).encode()

    return st.builds(replace, st.sampled_from(paths), json_values)


def bodies(sample):
    raw = sample.body
    return st.one_of(
        st.binary(max_size=2048),
        json_values.map(lambda v: json.dumps(v).encode()),
        mutate_sample(raw),
        st.sampled_from(
            [
                b"",
                b"\xff\xfe\x00bad",
                raw[: len(raw) // 2],
                raw + b"\x00",
                raw.replace(b'"', b"'"),
                raw.decode("utf-8", "replace").encode("utf-16"),
                deep(5000),
                deep(200),
                b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>",
                b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n\xff\r\n--b--\r\n',
            ]
        ),
    )


@pytest.fixture(scope="module")
def connectors():
    from chalicelib.config.loader import load_directory
    from tests.support.samples import CONNECTORS

    return load_directory(CONNECTORS)


def no_network(monkeypatch):
    """A parser that fetches gets a refusing session: the error must surface as UpstreamError."""

    class Refusing:
        def request(self, *args, **kwargs):
            import requests

            raise requests.ConnectionError("no network in fuzz tests")

    monkeypatch.setattr("chalicelib.providers.http._sleep", lambda seconds: None)
    return Refusing()


@pytest.mark.parametrize("name,sample", CASES)
def test_parsers_only_return_results_or_named_errors(name, sample, connectors, monkeypatch):
    assert sample is not None, f"registered source '{name}' ships no sample"
    from chalicelib.errors import MalformedPayload, UpstreamError
    from chalicelib.providers import get_provider
    from chalicelib.providers.base import Delivery, ParseContext, Skipped
    from chalicelib.schema import Interaction

    connector = connectors.get(sample.connector_id)
    provider = get_provider(connector.provider)
    http = no_network(monkeypatch)
    _, headers, _ = sample.request()
    content_type = headers.get("Content-Type", "application/json")
    kept = {k.lower(): v for k, v in headers.items()}

    @given(
        body=bodies(sample),
        header_noise=st.dictionaries(
            st.sampled_from(SAMPLE_HEADERS),
            st.text(string.printable, max_size=30),
            max_size=2,
        ),
    )
    def check(body, header_noise):
        delivery = Delivery(
            connector=connector,
            body=body,
            headers={**kept, **header_noise},
            query={},
            content_type=content_type.split(";")[0],
            url="http://localhost" + sample.path,
            received_at=datetime.now(UTC),
        )
        try:
            results = list(provider.parse(delivery, ParseContext(now=datetime.now(UTC), http=http)))
        except (MalformedPayload, UpstreamError):
            return
        for result in results:
            assert isinstance(result, (Interaction, Skipped)), type(result)

    check()


@pytest.mark.parametrize("name,sample", CASES)
def test_webhook_route_never_answers_500(name, sample, client):
    """Arbitrary bodies, headers and content types, signed correctly or not."""
    assert sample is not None, f"registered source '{name}' ships no sample"
    content_types = st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=b",
            "multipart/form-data",
            "text/xml",
            "application/atom+xml",
            "application/json; charset=latin-1",
            "image/png",
            "",
        ]
    )

    @given(
        body=bodies(sample),
        signed=st.booleans(),
        content_type=st.none() | content_types,
        extra=st.dictionaries(
            st.sampled_from(SAMPLE_HEADERS),
            st.text(string.printable, max_size=40),
            max_size=2,
        ),
        method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT"]),
    )
    def check(body, signed, content_type, extra, method):
        path, headers, body = sample.request(body=body) if signed else (sample.request()[0], {}, body)
        headers = {**headers, **extra}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if method == "GET":
            answer = client.http.get(path, headers=headers)
        elif method == "PUT":
            answer = client.http.put(path, body=body, headers=headers)
        else:
            answer = client.http.post(path, body=body, headers=headers)
        assert answer.status_code < 300 or answer.status_code in DOCUMENTED_4XX, (
            answer.status_code,
            answer.body[:300],
        )

    check()


@given(body=st.binary(max_size=512) | json_values.map(lambda v: json.dumps(v).encode()))
@settings(max_examples=25)
def test_unknown_connector_is_404_whatever_the_body(body, client):
    assert (
        client.http.post(
            "/webhooks/no-such-connector", body=body, headers={"Content-Type": "application/json"}
        ).status_code
        == 404
    )


@given(
    fields=st.dictionaries(
        st.text(string.ascii_letters + string.digits + "_-[]", min_size=1, max_size=20),
        st.text(max_size=60),
        min_size=1,
        max_size=8,
    ),
    boundary=st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=40),
    noise=st.sampled_from(["", "preamble\r\n", "\r\n"]),
)
def test_multipart_fast_path_agrees_with_the_email_parser(fields, boundary, noise):
    """The fast path for plain form fields must give exactly what the email parser gives."""
    from chalicelib.errors import MalformedPayload
    from chalicelib.providers import multipart

    body = (
        noise.encode()
        + b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode()
            + v.encode()
            + b"\r\n"
            for k, v in fields.items()
        )
        + f"--{boundary}--\r\n".encode()
    )
    header = f"multipart/form-data; boundary={boundary}"
    fast = multipart._simple_form_data(body, header)
    original = multipart._simple_form_data
    multipart._simple_form_data = lambda b, c: None
    try:
        slow = multipart.parse_multipart(body, header)
    except MalformedPayload:
        slow = None
    finally:
        multipart._simple_form_data = original
    if fast is not None:
        assert fast == slow
    try:  # what ingest checks: the same names, and the same bodies refused
        names = multipart.multipart_field_names(body, header)
    except MalformedPayload:
        names = None
    assert names == (None if slow is None else set(slow))
