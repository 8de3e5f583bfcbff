"""A secret that does not resolve at delivery time: the caller gets 503 and no detail; the
operator's log names the reference (never its value); nothing is queued."""

import json
import logging

from tests.support.senders import SECRETS, fixture_bytes, typeform_headers

URL = "/webhooks/typeform-nps"


def test_a_missing_secret_is_503_without_its_name_in_the_body(client, hub, monkeypatch, caplog):
    body = fixture_bytes("typeform/form_response.json")
    headers = typeform_headers(body)
    monkeypatch.delenv("TEST_TYPEFORM_SECRET")
    with caplog.at_level(logging.WARNING, logger="chorus_hub.ingest"):
        response = client.http.post(URL, body=body, headers=headers)
    assert response.status_code == 503
    answer = json.loads(response.body)
    assert answer["error"] == "unavailable"
    assert "TEST_TYPEFORM_SECRET" not in response.body.decode() and "env:" not in response.body.decode()
    [record] = [r for r in caplog.records if r.getMessage() == "webhook failed"]
    assert "TEST_TYPEFORM_SECRET" in record.detail
    assert SECRETS["TEST_TYPEFORM_SECRET"] not in caplog.text
    from tests.test_webhook_route import queued

    assert queued(hub) == 0
