"""HubSpot webhooks v3: signature over method + URI + body + timestamp, arrays of events."""

import json
import time

from tests.support.senders import fixture_bytes, fixture_json, hubspot_headers

URL = "/webhooks/hubspot"
PUBLIC = {"Host": "hooks.example.com", "X-Forwarded-Proto": "https"}
URI = "https://hooks.example.com/webhooks/hubspot"


def post(client, body: bytes, headers: dict):
    return client.http.post(URL, body=body, headers={**PUBLIC, **headers})


def test_contact_events_link_the_contact_id_to_the_email(client, workers, hub):
    body = fixture_bytes("hubspot/contact_events.json")
    assert post(client, body, hubspot_headers(body, URI)).status_code == 200
    workers.drain()
    items = hub.store.connector_interactions("hubspot", 10)
    assert len(items) == 3 and {i.kind for i in items} == {"crm_update"}
    assert len({i.person_id for i in items}) == 1
    person = hub.store.get_person(items[0].person_id)
    assert {"hubspot#98765432101", "email#maya.chen@example.com"} <= {r.key for r in person.identities}
    assert person.stats.interaction_count == 0  # CRM bookkeeping is not something the person said


def test_signature_cases(client):
    body = fixture_bytes("hubspot/contact_events.json")
    now_ms = int(time.time() * 1000)
    assert post(client, body, hubspot_headers(body, URI, timestamp_ms=now_ms)).status_code == 200
    stale = hubspot_headers(body, URI, timestamp_ms=now_ms - 301_000)
    assert json.loads(post(client, body, stale).body)["error"] == "stale_timestamp"
    assert (
        post(client, body, hubspot_headers(body, "https://other.example.com/webhooks/hubspot")).status_code
        == 401
    )
    assert post(client, body.replace(b"Maya", b"Eve"), hubspot_headers(body, URI)).status_code == 401
    missing = {k: v for k, v in hubspot_headers(body, URI).items() if k != "X-HubSpot-Signature-v3"}
    assert post(client, body, missing).status_code == 401
    no_ts = {k: v for k, v in hubspot_headers(body, URI).items() if k != "X-HubSpot-Request-Timestamp"}
    assert post(client, body, no_ts).status_code == 401


def test_public_url_option_signs_the_url_hubspot_called(client, tmp_path, use_connectors):
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "hubspot.yaml").write_text(
        "id: hubspot\nprovider: hubspot\nsecrets:\n  signing: env:TEST_HUBSPOT_CLIENT_SECRET\n"
        "options:\n  public_url: https://crm-hooks.example.org/prod/webhooks/hubspot\n"
    )
    use_connectors(folder)
    body = fixture_bytes("hubspot/contact_events.json")
    good = hubspot_headers(body, "https://crm-hooks.example.org/prod/webhooks/hubspot")
    assert post(client, body, good).status_code == 200
    assert post(client, body, hubspot_headers(body, URI)).status_code == 401


def test_retried_events_are_stored_once(client, workers, hub):
    events = fixture_json("hubspot/contact_events.json")
    for attempt in range(3):
        for event in events:
            event["attemptNumber"] = attempt
        body = json.dumps(events).encode()
        assert post(client, body, hubspot_headers(body, URI)).status_code == 200
    workers.drain()
    assert len(hub.store.connector_interactions("hubspot", 10)) == 3


def test_a_delivery_that_is_not_an_array_is_dead_lettered_not_lost(client, workers, hub):
    body = json.dumps({"eventId": 1}).encode()
    assert post(client, body, hubspot_headers(body, URI)).status_code == 200
    workers.drain()
    [letter] = hub.store.dead_letters("hubspot", 10)
    assert letter.stage == "ingest" and "array" in letter.reason
    assert letter.message["body_b64"]  # the raw delivery is kept for replay
