"""HubSpot webhooks v3: signature over method + URI + body + timestamp, arrays of events."""

import json
import time

from tests.support.senders import SECRETS, fixture_bytes, fixture_json, hubspot_headers

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


def test_generic_object_events_of_contacts_are_parsed_others_skipped(client, workers, hub):
    # HubSpot's generic subscriptions (object.*, objectTypeId 0-1 for contacts) used to be counted
    # as unsupported and dropped; a company (0-2) still is, with its reason recorded.
    body = fixture_bytes("hubspot/object_events.json")
    assert post(client, body, hubspot_headers(body, URI)).status_code == 200
    workers.drain()
    items = sorted(hub.store.connector_interactions("hubspot", 10), key=lambda i: i.occurred_at)
    assert [i.crm_change.change_type for i in items] == ["contact.creation", "contact.propertyChange"]
    assert (
        items[1].author.email == "devon.park@example.com" and items[1].crm_change.object_id == "98765432155"
    )
    person = hub.store.get_person(items[1].person_id)
    assert {"hubspot#98765432155", "email#devon.park@example.com"} <= {r.key for r in person.identities}
    assert hub.store.connector_stats(["hubspot"])["hubspot"]["counts"].get("skipped_unsupported_event") == 1


HUBSPOT_TOKEN = "https://api.hubapi.com/oauth/v1/token"
UPSERT = "https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert"


def test_oauth_app_token_is_refreshed_cached_and_renewed_before_it_expires(
    tmp_path, use_connectors, aws, monkeypatch
):
    # Before: the OAuth access token was sent as is, so every sync failed 30 minutes after set-up.
    from urllib.parse import parse_qs

    from chalicelib.providers import get_sink, oauth
    from chalicelib.runtime.aws import get_hub
    from tests.support.crm import record

    monkeypatch.setenv("TEST_HUBSPOT_APP_CLIENT_ID", "5ff2c1b0-8d3a-4c55-9e61-0c2a7e5b9d11")
    monkeypatch.setenv("TEST_HUBSPOT_REFRESH_TOKEN", "na1-7e1f-refresh-token-for-tests")
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "hubspot.yaml").write_text(
        "id: hubspot-oauth\nprovider: hubspot\ndirection: sink\nsecrets:\n"
        "  signing: env:TEST_HUBSPOT_CLIENT_SECRET\n  client_id: env:TEST_HUBSPOT_APP_CLIENT_ID\n"
        "  refresh_token: env:TEST_HUBSPOT_REFRESH_TOKEN\n"
    )
    use_connectors(folder)
    oauth.clear_cache()
    connector = get_hub().connectors.get("hubspot-oauth")
    issued = iter(["CJT-access-1", "CJT-access-2"])
    tokens_sent = []

    def token(request):  # HubSpot's documented answer to the refresh_token grant
        form = parse_qs(request.body)
        assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == [
            "na1-7e1f-refresh-token-for-tests"
        ]
        assert form["client_secret"] == [SECRETS["TEST_HUBSPOT_CLIENT_SECRET"]]
        body = {
            "token_type": "bearer",
            "refresh_token": form["refresh_token"][0],
            "access_token": next(issued),
            "expires_in": 1800,
        }
        return 200, {}, json.dumps(body)

    def upsert(request):
        tokens_sent.append(request.headers["Authorization"])
        [entry] = json.loads(request.body)["inputs"]
        result = {"id": "1", "properties": {"email": entry["id"]}, "new": False}
        return 200, {}, json.dumps({"status": "COMPLETE", "results": [result]})

    import responses

    now = [time.time()]
    monkeypatch.setattr(oauth.time, "time", lambda: now[0])
    with responses.RequestsMock() as rsps:
        token_call = rsps.add_callback(responses.POST, HUBSPOT_TOKEN, callback=token)
        rsps.add_callback(responses.POST, UPSERT, callback=upsert)
        sink = get_sink("hubspot")
        for _ in range(3):
            [result] = sink.upsert([record(1)], connector, requests_session())
            assert result.ok
        assert token_call.call_count == 1  # cached across calls
        now[0] += 1800 - 30  # inside the last minute of its 30: renewed before HubSpot refuses it
        sink.upsert([record(1)], connector, requests_session())
        assert token_call.call_count == 2
    assert tokens_sent == ["Bearer CJT-access-1"] * 3 + ["Bearer CJT-access-2"]


def requests_session():
    import requests

    return requests.Session()
