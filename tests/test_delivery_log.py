"""The delivery log: every webhook request gets an id and a record; refusals cost no write each."""

from __future__ import annotations

import json
import shutil
from datetime import datetime

import pytest

from tests.conftest import TEST_CONNECTORS
from tests.support.admin import survey
from tests.support.senders import fixture_bytes, typeform_headers, x_headers

URL = "/webhooks/typeform-nps"
HEADER = "X-Chorus-Delivery-Id"


def get(client, path, headers, status=200):
    response = client.http.get(path, headers=headers)
    assert response.status_code == status, (path, response.status_code, response.body)
    return json.loads(response.body)


def test_accepted_delivery_has_an_id_and_its_record_is_written_by_the_worker(
    client, hub, workers, admin_headers
):
    body = fixture_bytes("typeform/form_response.json")
    response = client.http.post(
        URL, body=body, headers={**typeform_headers(body), "Authorization": "Bearer x"}
    )
    assert response.status_code == 200
    delivery_id = response.headers[HEADER]
    assert json.loads(response.body) == {"status": "accepted", "delivery_id": delivery_id}
    assert hub.store.get_delivery(delivery_id) is None  # the ack path wrote nothing
    workers.drain()
    record = get(client, f"/admin/deliveries/{delivery_id}", admin_headers)
    assert record["status"] == "processed" and record["http_status"] == 200
    assert record["connector_id"] == "typeform-nps" and record["size"] == len(body)
    assert record["headers"]["typeform-signature"] == "[redacted]"
    assert record["headers"]["authorization"] == "[redacted]"
    assert record["body"] is None  # the connector does not allow bodies
    [step] = record["chain"]
    [made] = step["interactions"]
    person = hub.store.get_person(made["person_id"])
    assert person is not None and step["sync_jobs"] == 1  # the crm-file sink


def test_refusals_are_buffered_then_written_in_one_batch(client, hub, monkeypatch, admin_headers):
    writes = []
    for name in ("count_events", "put_deliveries", "count_event", "record_delivery_step"):
        real = getattr(hub.store, name)
        monkeypatch.setattr(
            hub.store, name, lambda *a, _real=real, _name=name, **k: (writes.append(_name), _real(*a, **k))[1]
        )
    body = fixture_bytes("typeform/form_response.json")
    ids = []
    for _ in range(10):
        response = client.http.post(URL, body=body, headers=typeform_headers(b"forged"))
        assert response.status_code == 401
        ids.append(response.headers[HEADER])
        assert json.loads(response.body)["delivery_id"] == ids[-1]
    assert writes == []  # no database write for any of the ten
    hub.refusals.flush(hub)
    assert writes == ["count_events", "put_deliveries"]
    assert hub.store.event_counts("typeform-nps") == {"bad_signature": 10}
    record = hub.store.get_delivery(ids[0])
    assert (record.status, record.reason, record.http_status) == ("refused", "bad_signature", 401)
    assert record.headers["typeform-signature"] == "[redacted]" and record.body is None


def test_a_flush_happens_on_its_own_once_a_batch_is_full(client, hub):
    from chalicelib.pipeline import refusals

    body = fixture_bytes("typeform/form_response.json")
    for _ in range(refusals.BATCH):
        client.http.post(URL, body=body, headers=typeform_headers(b"forged"))
    assert hub.store.event_counts("typeform-nps") == {"bad_signature": refusals.BATCH}


def test_past_the_buffer_refusals_are_counted_not_logged(client, hub, monkeypatch, admin_headers):
    from chalicelib.pipeline import refusals

    monkeypatch.setattr(refusals, "MAX_BUFFERED", 3)
    monkeypatch.setattr(refusals, "BATCH", 100)
    body = fixture_bytes("typeform/form_response.json")
    for _ in range(8):
        client.http.post(URL, body=body, headers={"Content-Type": "application/json"})
    listed = get(client, "/admin/deliveries?connector_id=typeform-nps", admin_headers)["items"]
    assert len(listed) == 3 and {i["reason"] for i in listed} == {"missing_signature"}
    assert hub.store.event_counts("typeform-nps") == {"missing_signature": 8}
    assert hub.refusals.sampled_out == 5


def test_requests_to_no_connector_are_logged_apart_and_not_counted(client, hub, admin_headers):
    response = client.http.post(
        "/webhooks/nope-" + "x" * 40, body=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 404
    [item] = get(client, "/admin/deliveries?connector_id=unknown", admin_headers)["items"]
    assert item["reason"] == "unknown_connector" and item["delivery_id"] == response.headers[HEADER]
    assert hub.store.event_counts("unknown") == {}


def test_refusal_metric_is_emf_on_lambda_with_bounded_dimensions(client, hub, monkeypatch, capsys):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "chorus-dev")
    body = fixture_bytes("typeform/form_response.json")
    client.http.post(URL, body=body, headers=typeform_headers(b"forged"))
    client.http.post("/webhooks/attacker-chosen", body=b"{}", headers={"Content-Type": "application/json"})
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [(b["connector"], b["reason"], b["RefusedDeliveries"]) for b in blobs] == [
        ("typeform-nps", "bad_signature", [1.0]),
        ("unknown", "unknown_connector", [1.0]),
    ]
    assert blobs[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Chorus"


def test_a_handshake_is_logged_as_answered(client, hub, admin_headers):
    import base64
    import hashlib
    import hmac

    response = client.http.get("/webhooks/x-brand?crc_token=abc123")
    assert response.status_code == 200 and HEADER in response.headers
    expected = base64.b64encode(
        hmac.new(b"x-consumer-secret-4567", b"abc123", hashlib.sha256).digest()
    ).decode()
    assert json.loads(response.body) == {"response_token": "sha256=" + expected}  # unchanged for X
    record = get(client, f"/admin/deliveries/{response.headers[HEADER]}", admin_headers)
    assert record["status"] == "answered" and record["method"] == "GET"


def test_list_filters_pages_and_rejects_foreign_cursors(client, hub, workers, admin_headers):
    body = fixture_bytes("typeform/form_response.json")
    client.http.post(URL, body=body, headers=typeform_headers(b"forged"))
    for n in range(3):
        doc = survey(token=f"tok{n}")
        client.http.post(URL, body=doc, headers=typeform_headers(doc))
    tweet = fixture_bytes("x/tweet_create_events.json")
    client.http.post("/webhooks/x-brand", body=tweet, headers=x_headers(tweet))
    workers.drain()
    page = get(client, "/admin/deliveries?connector_id=typeform-nps&status=accepted&limit=2", admin_headers)
    assert [i["status"] for i in page["items"]] == ["processed", "processed"] and page["next"]
    rest = get(
        client,
        f"/admin/deliveries?connector_id=typeform-nps&status=accepted&limit=2&next={page['next']}",
        admin_headers,
    )
    seen = [i["delivery_id"] for i in page["items"] + rest["items"]]
    assert len(set(seen)) == 3
    refused = get(client, "/admin/deliveries?status=refused", admin_headers)["items"]
    assert [i["reason"] for i in refused] == ["bad_signature"]
    everyone = get(client, "/admin/deliveries", admin_headers)["items"]

    # newest first, by the millisecond received (two deliveries in one millisecond tie)
    def ms(item):
        return int(datetime.fromisoformat(item["received_at"]).timestamp() * 1000)

    assert len(everyone) == 5 and [ms(i) for i in everyone] == sorted(map(ms, everyone), reverse=True)
    assert [ms(i) for i in everyone if i["connector_id"] == "x-brand"] == [ms(everyone[0])]
    get(client, f"/admin/deliveries?connector_id=x-brand&next={page['next']}", admin_headers, 400)
    get(client, "/admin/deliveries?next=garbage!", admin_headers, 400)
    get(client, "/admin/deliveries?status=lost", admin_headers, 400)
    get(client, "/admin/deliveries?connector_id=nope", admin_headers, 400)
    get(client, "/admin/deliveries/" + "0" * 32, admin_headers, 404)
    get(client, "/admin/deliveries/not-an-id", admin_headers, 404)
    assert client.http.get("/admin/deliveries").status_code == 401
    assert client.http.get(f"/admin/deliveries/{seen[0]}").status_code == 401


def test_dead_letter_and_replay_extend_the_outcome_chain(client, hub, workers, admin_headers):
    body = json.dumps(
        {"event_id": "e1", "event_type": "form_response", "form_response": {"token": 5}}
    ).encode()
    response = client.http.post(URL, body=body, headers=typeform_headers(body))
    assert response.status_code == 200
    delivery_id = response.headers[HEADER]
    workers.drain()
    record = get(client, f"/admin/deliveries/{delivery_id}", admin_headers)
    assert record["status"] == "dead_letter" and record["chain"][-1]["dead_letter_id"]
    assert (
        client.http.post(
            "/admin/dead-letters/replay?connector_id=typeform-nps", headers=admin_headers
        ).status_code
        == 200
    )
    replayed = get(client, f"/admin/deliveries/{delivery_id}", admin_headers)
    assert [s["status"] for s in replayed["chain"]] == ["dead_letter", "replayed"]
    workers.drain()
    again = get(client, f"/admin/deliveries/{delivery_id}", admin_headers)
    assert [s["status"] for s in again["chain"]] == ["dead_letter", "replayed", "dead_letter"]


@pytest.fixture
def bodies_kept(tmp_path, use_connectors):
    folder = tmp_path / "connectors"
    shutil.copytree(TEST_CONNECTORS, folder)
    path = folder / "typeform-nps.yaml"
    path.write_text(path.read_text() + "log_bodies: true\n")
    use_connectors(folder)


def test_bodies_kept_where_allowed_and_scrubbed_by_erasure(bodies_kept, client, workers, admin_headers):
    body = survey(email="keep.me@example.com")
    response = client.http.post(URL, body=body, headers=typeform_headers(body))
    delivery_id = response.headers[HEADER]
    workers.drain()
    record = get(client, f"/admin/deliveries/{delivery_id}", admin_headers)
    assert "keep.me@example.com" in record["body"]
    person_id = record["chain"][0]["interactions"][0]["person_id"]
    erased = client.http.delete(f"/admin/people/{person_id}", headers=admin_headers)
    assert erased.status_code == 200 and json.loads(erased.body)["logged_bodies"] == 1
    assert get(client, f"/admin/deliveries/{delivery_id}", admin_headers)["body"] is None
    # a later delivery about the erased person keeps no body either
    again = survey(email="keep.me@example.com", token="later")
    later = client.http.post(URL, body=again, headers=typeform_headers(again)).headers[HEADER]
    workers.drain()
    record = get(client, f"/admin/deliveries/{later}", admin_headers)
    assert record["chain"][0]["skipped"] == ["erased"] and record["body"] is None


def test_secret_query_parameters_are_redacted_in_the_log():
    from chalicelib.pipeline.delivery_log import logged_path, redact_headers
    from chalicelib.providers.base import InboundRequest

    request = InboundRequest(
        "GET",
        "http://h/webhooks/a?token=s3cret&hub.verify_token=v&x=1",
        "/webhooks/a",
        {"x-api-key": "k", "user-agent": "ua"},
        {"token": "s3cret", "hub.verify_token": "v", "x": "1"},
        b"",
    )
    assert (
        "s3cret" not in logged_path(request)
        and "=v" not in logged_path(request)
        and "x=1" in logged_path(request)
    )
    assert redact_headers(request.headers) == {"x-api-key": "[redacted]", "user-agent": "ua"}


def test_an_accepted_ack_never_pays_for_a_refusal_flush(client, hub, monkeypatch):
    from chalicelib.pipeline import refusals

    body = fixture_bytes("typeform/form_response.json")
    client.http.post(URL, body=body, headers=typeform_headers(b"forged"))  # one refusal buffered
    monkeypatch.setattr(refusals.time, "monotonic", lambda: 1e12)  # a flush is long overdue
    writes = []
    for name in ("count_events", "put_deliveries"):
        monkeypatch.setattr(hub.store, name, lambda *a, _name=name, **k: writes.append(_name))
    assert client.http.post(URL, body=body, headers=typeform_headers(body)).status_code == 200
    assert writes == [] and hub.refusals.pending  # the ack only enqueued


def test_with_a_flush_timer_a_refused_request_writes_nothing_itself(client, hub, monkeypatch):
    from chalicelib.pipeline import refusals

    monkeypatch.setattr(hub.refusals, "_timer", object())  # the local HTTP process runs one
    body = fixture_bytes("typeform/form_response.json")
    for _ in range(refusals.BATCH + 1):
        client.http.post(URL, body=body, headers=typeform_headers(b"forged"))
    assert hub.store.event_counts("typeform-nps") == {}
    hub.refusals.flush(hub)  # what the timer does each second
    assert hub.store.event_counts("typeform-nps") == {"bad_signature": refusals.BATCH + 1}
