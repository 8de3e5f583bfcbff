"""Crashes the thorough fuzz profile found, kept as explicit cases (the bodies are hypothesis's
minimal failing examples, byte for byte). A missing or wrong-typed field is a recorded
Skipped("malformed_entry"), never an exception, and the good entries of a batch are kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chalicelib.deadletters import list_dead_letters
from chalicelib.providers import get_provider
from chalicelib.providers.base import Delivery, ParseContext, Skipped
from chalicelib.schema import Interaction
from tests.support.senders import fixture_bytes
from tests.support.social_senders import meta_headers, slack_headers

FOUND = {
    # surveymonkey.py: (event.get("resources") or {}).get(...) on a bool -> AttributeError
    "surveymonkey-nps": b'{"":"","":"","":"","event_type":"response_completed","":"","object_type":"response",'
    b'"":"","":"","resources":true}',
    # slack.py: ts.replace(...) on a null ts -> AttributeError
    "slack-community": b'{"":"","":"","":"","event":{"type":"message","channel":"","ts":null,"":"","":"","":"",'
    b'"":""},"type":"event_callback","event_id":"","_":1,"":[{"":null,"":"","":"","":true,'
    b'"":false}],"":false,"":""}',
    # meta.py: for change in entry.get("changes") on an int -> TypeError
    "facebook-page": b'{"object":"page","entry":[{"":"","":1,"changes":1},{"":"","":1,"":[{"":"","":{"":1,'
    b'"":"","":"","":"","":"","":"","":"","":""}}]}]}',
    # dynamics.py: _attributes(...) on a PostEntityImages value 1 -> AttributeError
    "dynamics": b'{"BusinessUnitId": "e2b9dd85-e89e-e711-8122-000d3aa2331c", "CorrelationId": '
    b'"b374239d-4233-41a9-8b17-a86cb4f737b5", "Depth": 1, "InitiatingUserId": '
    b'"75c2dd85-e89e-e711-8122-000d3aa2331c", "InputParameters": [{"key": "Target", "value": '
    b'{"__t":"","":[{"":""},{"":"","":{"":"","":"","":"","":null}},{"":"","":null}],"":null,"":[],'
    b'"Id":"6","":"","":null}}],"":false,"":false,"":false,"":1,"MessageName":"Update","":1,"":"",'
    b'"OperationId":"4","":"","":"","":[],"":{"":"","":"","":null},"":null,'
    b'"PostEntityImages":[{"":"","value":1}],"":[],"":"","PrimaryEntityName":"contact","":null,'
    b'"":"","":[],"":4,"":""}',
    # hubspot.py: event["occurredAt"] missing -> KeyError (found with 5,000 examples)
    "hubspot": b'[{"":1,"":2,"":2,"":3,"":1,"":"","":0,"":9,"":"","":"","":""},{"eventId":3,"":2,"":2,"":3,'
    b'"ccourred":"","subscriptionType":"contact.propertyChange","":0,"objectId":9,"":"","":"","":"",'
    b'"":""},{"":2,"":2,"":2,"":3,"":1,"":"","":0,"":9,"":"","":"","":"","":""}]',
    # zoho.py: iterating an "ids" that is true -> TypeError (found with 5,000 examples)
    "zoho": b'{"":0,"":{},"":"","ids":true,"":[{"":[""]}],"":"","":"","":""}',
}
EVENT_IDS = {
    "surveymonkey-nps": None,
    "slack-community": None,
    "facebook-page": None,
    "dynamics": "4",
    "hubspot": "3",
    "zoho": "None:None",
}


# utc_from_epoch(9.2e18) raised OSError (errno 75), which no parser expects (4,000 examples)
OUT_OF_RANGE_EPOCH = (
    b'{"event_type":"survey_response.created","event_id":"","event_data":{"id":"","":{"":"",'
    b'"":"","":1},"":"","":9,"":null,"":"","created_at":9.2e18,"":1,"":{"":"","":""},"":[],"":[],'
    b'"":[]}}'
)


@pytest.fixture(scope="module")
def connectors():
    from chalicelib.config.loader import load_directory
    from tests.support.samples import CONNECTORS

    return load_directory(CONNECTORS)


def parse(connectors, connector_id: str, body: bytes) -> list:
    connector = connectors.get(connector_id)
    delivery = Delivery(
        connector=connector,
        body=body,
        headers={},
        query={},
        content_type="application/json",
        url="http://localhost/webhooks/" + connector_id,
        received_at=datetime.now(UTC),
    )
    return list(get_provider(connector.provider).parse(delivery, ParseContext(now=datetime.now(UTC))))


@pytest.mark.parametrize("connector_id", sorted(FOUND))
def test_minimal_failing_example_is_a_recorded_skip(connectors, connector_id):
    results = parse(connectors, connector_id, FOUND[connector_id])
    assert all(isinstance(r, Skipped) and r.reason == "malformed_entry" for r in results), results
    result = results[len(results) // 2]  # HubSpot's example is a batch of three; the middle one crashed
    assert isinstance(result, Skipped) and result.reason == "malformed_entry", result
    assert result.event_id == EVENT_IDS[connector_id]


def with_field(fixture: str, path: tuple, value) -> bytes:
    data = json.loads(fixture_bytes(fixture))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    "connector_id, fixture, path, value",
    [
        # the slack example has an empty event_id, skipped before the ts is read: the same null ts with an id
        ("slack-community", "slack/message.json", ("event", "ts"), None),
        ("slack-community", "slack/message_changed.json", ("event", "message"), [1]),
        ("surveymonkey-nps", "surveymonkey/response_completed.json", ("resources", "survey_id"), {"id": 1}),
        ("surveymonkey-nps", "surveymonkey/response_completed.json", ("object_id",), None),
        ("dynamics", "dynamics/contact_update.json", ("OperationCreatedOn",), "/Date(" + "9" * 30 + ")/"),
        (
            "dynamics",
            "dynamics/contact_update.json",
            ("InputParameters", 0, "value", "Attributes", 0, "value"),
            "/Date(99999999999999999)/",
        ),
    ],
)
def test_wrong_typed_field_of_a_real_event_is_skipped_with_its_event_id(
    connectors, connector_id, fixture, path, value
):
    original = json.loads(fixture_bytes(fixture))
    [result] = parse(connectors, connector_id, with_field(fixture, path, value))
    assert isinstance(result, Skipped) and result.reason == "malformed_entry", result
    expected = original.get("event_id") or original.get("RequestId") or original.get("OperationId")
    assert result.event_id == expected


def meta_batch_with_a_bad_entry() -> bytes:
    data = json.loads(fixture_bytes("meta/page_feed_batch.json"))
    data["entry"].append({"id": "1", "time": 1, "changes": 1})
    return json.dumps(data).encode()


def test_a_malformed_meta_entry_keeps_the_good_ones(connectors):
    before = parse(connectors, "facebook-page", fixture_bytes("meta/page_feed_batch.json"))
    after = parse(connectors, "facebook-page", meta_batch_with_a_bad_entry())
    assert sum(isinstance(r, Interaction) for r in before) == 3
    assert [(type(r), getattr(r, "reason", None)) for r in after[:-1]] == [
        (type(r), getattr(r, "reason", None)) for r in before
    ]
    assert isinstance(after[-1], Skipped) and after[-1].reason == "malformed_entry"


def test_through_the_pipeline_a_wrong_typed_field_is_counted_not_dead_lettered(client, workers, hub):
    body = with_field("slack/message.json", ("event", "ts"), None)
    assert (
        client.http.post("/webhooks/slack-community", body=body, headers=slack_headers(body)).status_code
        == 200
    )
    body = meta_batch_with_a_bad_entry()
    assert (
        client.http.post("/webhooks/facebook-page", body=body, headers=meta_headers(body)).status_code == 200
    )
    workers.drain()
    assert hub.store.event_counts("slack-community").get("skipped_malformed_entry") == 1
    assert hub.store.event_counts("facebook-page").get("skipped_malformed_entry") == 2  # the fixture has one
    assert len(hub.store.connector_interactions("facebook-page", 20)) == 3
    assert list_dead_letters(hub) == []


def test_an_epoch_out_of_range_is_a_bad_value_not_an_os_error(connectors):
    from chalicelib.errors import MalformedPayload
    from chalicelib.providers.base import utc_from_epoch

    for value in (9.2e18, 1e300, 2**70):
        with pytest.raises(ValueError):
            utc_from_epoch(value)
    with pytest.raises(MalformedPayload):  # Delighted's documented answer to a response not in its shape
        parse(connectors, "delighted-nps", OUT_OF_RANGE_EPOCH)
