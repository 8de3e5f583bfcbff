"""`sign_test_delivery`: what the hub signs for `chorus send` and the console is accepted by the hub
and carries the same signature as the vendor's documented scheme (the independent signers of
tests/support/samples.py), for every source with a sample."""

from __future__ import annotations

import time

import pytest

from tests.support.samples import HOST, Sample, available_samples

SAMPLES = available_samples()
UNSIGNABLE = {"zoho"}  # its channel token travels inside the body
RANDOM_IDS = {"webhook-id", "webhook-signature"}  # Standard Webhooks: a new message id per send


def ids(samples: list[Sample]) -> list[str]:
    return [s.connector_id for s in samples]


@pytest.mark.parametrize("sample", SAMPLES, ids=ids(SAMPLES))
def test_a_hub_signed_delivery_is_accepted(sample, hub, client):
    from chalicelib.providers.source import CannotSign
    from chalicelib.sample_delivery import signed_request

    connector = hub.connectors.get(sample.connector_id)
    if sample.provider in UNSIGNABLE:
        with pytest.raises(CannotSign):
            signed_request(connector, sample.body, HOST)
        return
    request = signed_request(connector, sample.body, HOST)
    path = request.url.removeprefix(HOST)
    answer = client.http.post(path, headers=request.headers, body=request.body)
    assert 200 <= answer.status_code < 300, (answer.status_code, answer.body[:300])


@pytest.mark.parametrize("sample", SAMPLES, ids=ids(SAMPLES))
def test_the_hub_signs_as_the_vendor_documents(sample, hub):
    from chalicelib.providers.source import CannotSign
    from chalicelib.sample_delivery import signed_request

    connector, now = hub.connectors.get(sample.connector_id), time.time()
    try:
        ours = signed_request(connector, sample.body, HOST, now)
    except CannotSign:
        assert sample.provider in UNSIGNABLE
        return
    theirs, query = sample.sign(sample.body, HOST + sample.path, now)
    theirs = {k.lower(): v for k, v in theirs.items()}
    shared = (set(ours.headers) & set(theirs)) - RANDOM_IDS - {"content-type"}
    assert shared or query, "nothing to compare: the sample signs with other headers"
    assert all(ours.headers[h] == theirs[h] for h in shared), (ours.headers, theirs)
    for name, value in query.items():
        assert f"{name}={value}" in ours.url


def test_chorus_send_posts_the_signed_body_and_prints_the_answer(hub, client, capsys):
    import responses

    from chalicelib.cli import main
    from tests.support.paths import CONNECTORS, FIXTURES

    fixture = FIXTURES / "typeform" / "form_response.json"
    with responses.RequestsMock() as rsps:
        rsps.post("http://hub.test/webhooks/typeform-nps", json={"status": "accepted"})
        code = main(
            [
                "send",
                "typeform-nps",
                str(fixture),
                "--url",
                "http://hub.test/",
                "--config-dir",
                str(CONNECTORS),
            ]
        )
        sent = rsps.calls[0].request
    assert code == 0 and "HTTP 200" in capsys.readouterr().out
    assert sent.body == fixture.read_bytes()
    answer = client.http.post("/webhooks/typeform-nps", headers=dict(sent.headers), body=sent.body)
    assert answer.status_code == 200  # what the CLI sent is what the hub accepts


def test_chorus_send_says_plainly_when_it_cannot_sign(capsys):
    from chalicelib.cli import main
    from tests.support.paths import CONNECTORS, FIXTURES

    zoho = next(iter(sorted((FIXTURES / "zoho").glob("*.json"))))
    assert main(["send", "zoho", str(zoho), "--config-dir", str(CONNECTORS)]) == 1
    assert "Zoho carries its channel token" in capsys.readouterr().err
