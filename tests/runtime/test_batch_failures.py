"""The SQS handlers report failed items one by one (ReportBatchItemFailures), through Lambda."""

import json

import pytest

from tests.support.senders import fixture_bytes, typeform_headers

pytestmark = pytest.mark.moto  # Lambda's SQS contract, on SQS


def sqs_event(*bodies):
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"r{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:chorus-ingest",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def envelope_from_route(client, hub):
    import boto3

    body = fixture_bytes("typeform/form_response.json")
    client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body))
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=hub.ingest_queue.name)["QueueUrl"]
    return sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"]


def test_a_failing_item_does_not_make_the_others_retry(client, hub, monkeypatch):
    good = envelope_from_route(client, hub)
    broken = json.loads(good)
    broken["envelope_id"] = "other"
    broken["body_ref"], broken["body_b64"] = "s3://chorus-deliveries/missing", None  # blob store fails
    result = client.lambda_.invoke("process_ingest", sqs_event(good, json.dumps(broken)))
    assert result.payload == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert len(hub.store.connector_interactions("typeform-nps", 10)) == 1


def test_unparseable_message_is_dead_lettered_not_retried(client, hub):
    result = client.lambda_.invoke("process_ingest", sqs_event("not json"))
    assert result.payload == {"batchItemFailures": []}
    [letter] = hub.store.dead_letters("unknown", 10)
    assert letter.reason.startswith("unreadable")


def test_messages_sqs_gave_up_on_become_dead_letters(client, hub):
    good = envelope_from_route(client, hub)
    client.lambda_.invoke("ingest_dead_letters", sqs_event(good))
    [letter] = hub.store.dead_letters("typeform-nps", 10)
    assert letter.reason == "retries exhausted" and letter.message["body_b64"]
