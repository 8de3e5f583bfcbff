"""Security properties, for every provider with a sample (tests/samples.py) and every admin route:
constant-time signature comparison, the replay window, admin authentication, and no secret
or email in any log line of a full run."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import pytest
import responses

from tests.support.samples import Sample, available_samples, sample_emails
from tests.support.senders import FIXTURES, SECRETS

SAMPLES = available_samples()
TIMESTAMPED = [s for s in SAMPLES if s.timestamped]


def ids(samples: list[Sample]) -> list[str]:
    return [s.connector_id for s in samples]


# verify() reaching hmac.compare_digest is checked for every source by tests/conformance/.


@pytest.mark.parametrize("sample", TIMESTAMPED, ids=ids(TIMESTAMPED))
@pytest.mark.parametrize("skew", [-3600, 3600, -86400 * 3])
def test_replays_outside_the_window_are_rejected(sample, skew, client):
    path, headers, body = sample.request(time.time() + skew)
    answer = client.http.post(path, body=body, headers=headers)
    assert answer.status_code == 401, answer.body
    from chalicelib.errors import TimestampStale

    assert json.loads(answer.body)["error"] == TimestampStale.reason  # correctly signed, only too old or new
    path, headers, body = sample.request(time.time())
    assert client.http.post(path, body=body, headers=headers).status_code < 300


def admin_routes():
    import app as chalice_app

    found = []
    for path, methods in chalice_app.app.routes.items():
        if path.startswith("/admin"):
            found += [(path, method) for method in methods]
    return sorted(found)


@pytest.mark.parametrize("path,method", admin_routes())
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer nope",
        "Bearer ",
        "Basic " + SECRETS["CHORUS_ADMIN_TOKEN"],
        SECRETS["CHORUS_ADMIN_TOKEN"],
        "Bearer " + SECRETS["CHORUS_ADMIN_TOKEN"] + "x",
    ],
)
def test_admin_routes_refuse_missing_and_wrong_tokens(path, method, authorization, client):
    """Admin tokens are static bearer secrets (a secret reference, rotated by changing it):
    they carry no expiry, so 'expired' is covered by rotation: the old value is just wrong."""
    url = re.sub(r"\{[^}]+\}", "some-id", path)
    headers = {"Authorization": authorization} if authorization is not None else {}
    answer = getattr(client.http, method.lower())(url, headers=headers)
    assert answer.status_code in (401, 403), (path, method, answer.status_code, answer.body)


def test_a_rotated_admin_token_stops_working(client, monkeypatch, admin_headers):
    assert client.http.get("/admin/advocates", headers=admin_headers).status_code == 200
    monkeypatch.setenv("CHORUS_ADMIN_TOKEN", "rotated-admin-token-0000")
    assert client.http.get("/admin/advocates", headers=admin_headers).status_code == 401
    assert (
        client.http.get(
            "/admin/advocates", headers={"Authorization": "Bearer rotated-admin-token-0000"}
        ).status_code
        == 200
    )


class Everything(logging.Handler):
    """Keeps each record's message, arguments and every extra field, formatted or not."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(" ".join([record.getMessage(), repr(record.__dict__)]))


@pytest.fixture
def all_logs(monkeypatch):
    handler = Everything()
    stream = io.StringIO()
    text_handler = logging.StreamHandler(stream)
    # Chorus's own loggers at DEBUG; the rest at INFO (botocore's DEBUG wire log prints whole
    # requests and responses by design, and is never on outside a debugging session)
    loggers = [logging.getLogger(), logging.getLogger("chorus_hub")]
    for logger, level in zip(loggers, (logging.INFO, logging.DEBUG)):
        monkeypatch.setattr(logger, "level", level)
        logger.addHandler(handler)
        logger.addHandler(text_handler)
    yield handler, stream
    for logger in loggers:
        logger.removeHandler(handler)
        logger.removeHandler(text_handler)


@responses.activate
def test_no_secret_or_email_in_any_log_line(
    client, workers, hub, admin_headers, all_logs, caplog, capfd, monkeypatch
):
    """A full run through every test connector (good, tampered and stale deliveries, handshakes,
    workers, sync, admin reads), logs captured at DEBUG from every logger and from stderr."""
    monkeypatch.setattr("chalicelib.providers.http._sleep", lambda seconds: None)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="chorus_hub")
    for sample in SAMPLES:
        for fragment, name in sample.api.items():
            responses.add(
                responses.GET,
                re.compile(".*" + re.escape(fragment) + ".*"),
                json=json.loads((FIXTURES / name).read_bytes()),
            )
    for sample in SAMPLES:
        path, headers, body = sample.request()
        client.http.post(path, body=body, headers=headers)
        client.http.post(path, body=body + b" ", headers=headers)  # tampered
        client.http.post(
            path, body=body, headers={"Content-Type": headers.get("Content-Type", "")}
        )  # unsigned
        client.http.get(
            path + ("&" if "?" in path else "?") + "crc_token=abc&hub.challenge=1&hub.mode=subscribe"
            "&hub.verify_token=" + SECRETS["TEST_META_VERIFY_TOKEN"]
        )
    for sample in TIMESTAMPED:
        path, headers, body = sample.request(time.time() - 7200)
        client.http.post(path, body=body, headers=headers)
    workers.drain()
    client.http.get("/admin/advocates?min_score=-1000", headers=admin_headers)
    client.http.get(
        "/admin/advocates", headers={"Authorization": "Bearer " + SECRETS["TEST_TYPEFORM_SECRET"]}
    )

    handler, stream = all_logs
    captured = capfd.readouterr()
    text = "\n".join([*handler.lines, stream.getvalue(), caplog.text, captured.err, captured.out])
    assert handler.lines, "the run logged nothing: the capture is not working"
    leaked_secrets = sorted(name for name, value in SECRETS.items() if value in text)
    assert not leaked_secrets, f"secret values in the logs: {leaked_secrets}"
    emails = sample_emails()
    assert emails, "the fixtures hold no emails: the search proves nothing"
    leaked_emails = sorted(e for e in emails if e.lower() in text.lower())
    assert not leaked_emails, f"emails in the logs: {leaked_emails}"
