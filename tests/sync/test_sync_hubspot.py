"""The HubSpot sink against fakes that follow HubSpot's documented request and response shapes."""

import json
import time

import responses

from tests.support.senders import SECRETS, fixture_bytes, hubspot_headers, typeform_headers

UPSERT = "https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert"
URI = "https://hooks.example.com/webhooks/hubspot"


def contact_id(email: str) -> str:
    return str(90000000000 + sum(ord(c) for c in email))


def upsert_ok(request):
    """HubSpot's documented 200: one result per input, `new` telling created from updated."""
    inputs = json.loads(request.body)["inputs"]
    results = [
        {
            "id": contact_id(i["id"]),
            "properties": {**i["properties"], "email": i["id"]},
            "createdAt": "2026-11-24T15:20:05.112Z",
            "updatedAt": "2026-11-24T15:31:48.904Z",
            "archived": False,
            "new": True,
        }
        for i in inputs
    ]
    return (
        200,
        {},
        json.dumps(
            {
                "status": "COMPLETE",
                "results": results,
                "requestedAt": "2026-11-24T15:31:48.800Z",
                "startedAt": "2026-11-24T15:31:48.810Z",
                "completedAt": "2026-11-24T15:31:48.950Z",
            }
        ),
    )


def send_surveys(client, *names):
    for name in names:
        body = fixture_bytes(name)
        assert (
            client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body)).status_code
            == 200
        )


@responses.activate
def test_survey_becomes_a_hubspot_contact_and_the_echo_is_ignored(sink_client, sink_hub, workers):
    responses.add_callback(responses.POST, UPSERT, callback=upsert_ok, content_type="application/json")
    send_surveys(sink_client, "typeform/form_response.json")
    workers.drain()

    [call] = responses.calls
    assert call.request.headers["Authorization"] == f"Bearer {SECRETS['TEST_HUBSPOT_ACCESS_TOKEN']}"
    [entry] = json.loads(call.request.body)["inputs"]
    assert entry["idProperty"] == "email" and entry["id"] == "maya.chen@example.com"
    props = entry["properties"]
    assert props["chorus_latest_nps"] == "9" and props["chorus_x_handle"] == "maya_builds"
    assert props["chorus_advocate_tier"] in ("promoter", "advocate")
    [person] = sink_hub.store.advocates(-1000, 10)
    assert f"hubspot#{contact_id('maya.chen@example.com')}" in {r.key for r in person.identities}

    # HubSpot now notifies us of the property Chorus itself wrote: that echo must not be stored or synced.
    echo = json.dumps(
        [
            {
                "eventId": 77,
                "subscriptionId": 2871140,
                "portalId": 24681357,
                "appId": 3158642,
                "occurredAt": 1795533700000,
                "subscriptionType": "contact.propertyChange",
                "attemptNumber": 0,
                "objectId": int(contact_id("maya.chen@example.com")),
                "propertyName": "chorus_advocate_score",
                "propertyValue": props["chorus_advocate_score"],
                "changeSource": "INTEGRATION",
                "sourceId": "3158642",
            }
        ]
    ).encode()
    response = sink_client.http.post(
        "/webhooks/hubspot",
        body=echo,
        headers={"Host": "hooks.example.com", "X-Forwarded-Proto": "https", **hubspot_headers(echo, URI)},
    )
    assert response.status_code == 200
    workers.drain()
    assert sink_hub.store.connector_interactions("hubspot", 10) == []
    assert sink_hub.store.event_counts("hubspot")["skipped_echo"] == 1
    assert len(responses.calls) == 1


@responses.activate
def test_unchanged_record_is_not_written_twice(sink_client, sink_hub, workers):
    from chalicelib.schema import SyncJob, utcnow

    responses.add_callback(responses.POST, UPSERT, callback=upsert_ok, content_type="application/json")
    send_surveys(sink_client, "typeform/form_response.json")
    workers.drain()
    [person] = sink_hub.store.advocates(-1000, 10)
    job = SyncJob(person_id=person.person_id, connector_id="hubspot", requested_at=utcnow()).model_dump(
        mode="json"
    )
    sink_hub.sync_queue.send(job)
    workers.drain()
    assert len(responses.calls) == 1


@responses.activate
def test_429_parks_the_account_for_its_retry_after_then_writes(sink_client, sink_hub, workers):
    # The 429 is not waited out in the worker: the account is parked (for every worker) and the
    # message comes back when Retry-After has passed.
    responses.add(
        responses.POST,
        UPSERT,
        status=429,
        headers={"Retry-After": "1"},
        body=fixture_bytes("hubspot/rate_limit_429.json"),
        content_type="application/json",
    )
    responses.add_callback(responses.POST, UPSERT, callback=upsert_ok, content_type="application/json")
    send_surveys(sink_client, "typeform/form_response.json")
    workers.drain()
    assert sink_hub.waits == [] and len(responses.calls) == 1
    time.sleep(1.2)
    workers.drain()
    assert len(responses.calls) == 2
    [person] = sink_hub.store.advocates(-1000, 10)
    assert any(r.namespace == "hubspot" for r in person.identities)


@responses.activate
def test_batch_with_one_rejected_record_keeps_the_good_one_and_dead_letters_the_bad(
    sink_client, sink_hub, workers
):
    def multi_status(request):
        inputs = json.loads(request.body)["inputs"]
        good = [i for i in inputs if i["id"] == "maya.chen@example.com"]
        bad = [i for i in inputs if i["id"] != "maya.chen@example.com"]
        body = json.loads(fixture_bytes("hubspot/batch_upsert_207.json"))
        body["results"] = [
            {
                **body["results"][0],
                "id": contact_id(i["id"]),
                "objectWriteTraceId": i["objectWriteTraceId"],
                "properties": {**i["properties"], "email": i["id"]},
            }
            for i in good
        ]
        body["errors"][0]["context"]["objectWriteTraceId"] = [i["objectWriteTraceId"] for i in bad]
        body["numErrors"] = len(bad)
        return 207, {}, json.dumps(body)

    responses.add_callback(responses.POST, UPSERT, callback=multi_status, content_type="application/json")
    # both surveys land before the sync worker runs, so they share one batch call
    send_surveys(sink_client, "typeform/form_response.json", "typeform/form_response_detractor.json")
    workers.pollers[0].poll_once()
    workers.pollers[1].poll_once()
    assert len(responses.calls) == 1
    assert len(json.loads(responses.calls[0].request.body)["inputs"]) == 2
    [letter] = sink_hub.store.dead_letters("hubspot", 10)
    assert letter.stage == "sync" and "INVALID_EMAIL" in letter.reason
    people = {p.email: p for p in sink_hub.store.advocates(-1000, 10)}
    states = sink_hub.store.get_sync_states([(people["maya.chen@example.com"].person_id, "hubspot")])
    assert list(states.values())[0].crm_id == contact_id("maya.chen@example.com")


@responses.activate
def test_whole_batch_400_is_split_to_isolate_the_bad_record(sink_client, sink_hub, workers):
    def strict(request):
        inputs = json.loads(request.body)["inputs"]
        if any(i["id"] == "devon.park@example.com" for i in inputs):
            return (
                400,
                {},
                json.dumps(
                    {
                        "status": "error",
                        "message": "Property values were not valid",
                        "category": "VALIDATION_ERROR",
                        "correlationId": "c0ffee",
                    }
                ),
            )
        return upsert_ok(request)

    responses.add_callback(responses.POST, UPSERT, callback=strict, content_type="application/json")
    send_surveys(sink_client, "typeform/form_response.json", "typeform/form_response_detractor.json")
    workers.pollers[0].poll_once()
    workers.pollers[1].poll_once()
    assert [len(json.loads(c.request.body)["inputs"]) for c in responses.calls] == [2, 1, 1]
    [letter] = sink_hub.store.dead_letters("hubspot", 10)
    assert "Property values were not valid" in letter.reason


@responses.activate
def test_crm_down_nothing_lost_then_written(sink_client, sink_hub, workers):
    import time

    responses.add(responses.POST, UPSERT, status=503)
    send_surveys(sink_client, "typeform/form_response.json")
    workers.drain()
    assert sink_hub.store.dead_letters("hubspot", 10) == []  # retryable: still on the queue
    assert len(responses.calls) == 4  # one call, retried with backoff inside the invocation
    responses.reset()
    responses.add_callback(responses.POST, UPSERT, callback=upsert_ok, content_type="application/json")
    time.sleep(1.1)  # the visibility timeout of the test queues
    workers.drain()
    assert len(responses.calls) == 1
    [person] = sink_hub.store.advocates(-1000, 10)
    assert any(r.namespace == "hubspot" for r in person.identities)
