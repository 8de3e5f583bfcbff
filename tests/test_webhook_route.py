"""Honest statuses from the webhook route, and the one queue write behind a 200."""

import json

from tests.support.senders import fixture_bytes, typeform_headers

URL = "/webhooks/typeform-nps"


def queued(hub) -> int:
    if hasattr(hub.ingest_queue, "depth"):  # the local hub's queue file
        return hub.ingest_queue.depth()
    import boto3

    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=hub.ingest_queue.name)["QueueUrl"]
    return int(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
    )


def test_unknown_connector_is_404(client, hub):
    body = fixture_bytes("typeform/form_response.json")
    response = client.http.post("/webhooks/nope", body=body, headers=typeform_headers(body))
    assert response.status_code == 404
    assert queued(hub) == 0


def test_sink_only_connector_takes_no_webhooks(client):
    assert (
        client.http.post(
            "/webhooks/crm-file", body=b"{}", headers={"Content-Type": "application/json"}
        ).status_code
        == 404
    )


def test_unsupported_content_type_is_415(client):
    body = b"<xml/>"
    response = client.http.post(
        URL, body=body, headers={**typeform_headers(body), "Content-Type": "text/xml"}
    )
    assert response.status_code == 415
    assert json.loads(response.body)["error"] == "unsupported_content_type"
    assert client.http.post(URL, body=body, headers={"Content-Type": "image/png"}).status_code == 415


def test_body_over_the_configured_limit_is_413(client, hub, monkeypatch):
    monkeypatch.setattr(hub.settings, "max_body_bytes", 1024)
    body = json.dumps({"event_id": "x", "padding": "a" * 2048}).encode()
    response = client.http.post(URL, body=body, headers=typeform_headers(body))
    assert response.status_code == 413
    assert queued(hub) == 0


def test_get_on_a_provider_without_get_handshake_is_405(client):
    assert client.http.get(URL).status_code == 405


def test_accepted_delivery_is_exactly_one_queue_message(client, hub):
    body = fixture_bytes("typeform/form_response.json")
    assert client.http.post(URL, body=body, headers=typeform_headers(body)).status_code == 200
    assert queued(hub) == 1


def test_rejections_are_counted_by_reason(client, hub):
    body = fixture_bytes("typeform/form_response.json")
    client.http.post(URL, body=body, headers={"Content-Type": "application/json"})
    client.http.post(URL, body=body, headers=typeform_headers(b"other"))
    client.http.post(URL, body=body, headers=typeform_headers(b"other"))
    assert hub.store.event_counts("typeform-nps") == {}  # counted in memory: no write per refusal
    hub.refusals.flush(hub)
    assert hub.store.event_counts("typeform-nps") == {"missing_signature": 1, "bad_signature": 2}


def test_big_delivery_travels_by_claim_check(client, hub, workers):
    data = json.loads(fixture_bytes("typeform/form_response.json"))
    data["form_response"]["answers"][0]["text"] = "Chorus is great. " * 20000  # ~340 KB, over an SQS message
    body = json.dumps(data).encode()
    assert client.http.post(URL, body=body, headers=typeform_headers(body)).status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("typeform-nps", 10)
    assert item.text.startswith("What's the one thing") and item.sentiment.label == "positive"
