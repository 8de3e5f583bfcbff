"""Pipedrive: webhooks v2 behind HTTP basic auth, and persons written without an upsert
(stored id first, else search by email, then update or create)."""

import base64
import json
import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses
from responses import matchers

from tests.support.crm import crm, drain, fresh_tokens, record, seed_written, sleeps  # noqa: F401
from tests.support.senders import SECRETS, fixture_bytes, fixture_json

API = "https://acme.pipedrive.com/api/v2/persons"
SCORE_KEY = "8b1f3c6e2d9a4f7b0c5e1a2d3f4b6c8e9a0b1c2d"
API_TOKEN = {"x-api-token": SECRETS["TEST_PIPEDRIVE_API_TOKEN"]}


def basic(user: str = "chorus", password: str = SECRETS["TEST_PIPEDRIVE_WEBHOOK_PASSWORD"]) -> dict[str, str]:
    """RFC 7617, as Pipedrive sends http_auth_user / http_auth_password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def post(client, body: bytes, auth: dict | None = None):
    headers = {"Content-Type": "application/json", **(basic() if auth is None else auth)}
    return client.http.post("/webhooks/pipedrive", body=body, headers=headers)


# ---- source ---------------------------------------------------------------------------------
def test_person_change_becomes_one_crm_change_per_changed_field(client, workers, hub):
    assert post(client, fixture_bytes("pipedrive/person_change.json")).status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("pipedrive", 10)
    assert item.event_id == "a3c1f0e2-6d4b-4b8e-9f0a-2c7d5e8b1a90:" + SCORE_KEY
    assert (item.crm_change.property, item.crm_change.value) == (SCORE_KEY, "72")
    assert item.crm_change.source == "api" and item.author.email == "maya.chen@example.com"
    person = hub.store.get_person(item.person_id)
    assert {"pipedrive#1042", "email#maya.chen@example.com"} <= {r.key for r in person.identities}


def test_retried_webhook_is_stored_once(client, workers, hub):
    event = fixture_json("pipedrive/person_change.json")
    for attempt in (1, 2, 3):
        event["meta"]["attempt"] = attempt
        assert post(client, json.dumps(event).encode()).status_code == 200
    workers.drain()
    assert len(hub.store.connector_interactions("pipedrive", 10)) == 1


def test_basic_auth_cases(client):
    body = fixture_bytes("pipedrive/person_change.json")
    assert json.loads(post(client, body, auth={}).body)["error"] == "missing_signature"
    assert post(client, body, auth=basic(password="guess")).status_code == 401
    assert post(client, body, auth=basic(user="mallory")).status_code == 401
    assert post(client, body, auth={"Authorization": "Bearer abc"}).status_code == 401
    assert post(client, body, auth={"Authorization": "Basic !!notbase64"}).status_code == 401


@pytest.mark.moto  # reads the SQS message itself
def test_authorization_header_never_reaches_the_queue(client):
    import boto3

    from chalicelib.runtime.resources import ResourceNames

    assert post(client, fixture_bytes("pipedrive/person_change.json")).status_code == 200
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=ResourceNames.from_env().ingest_queue)["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert basic()["Authorization"].split()[1] not in message["Body"]


def test_other_entities_are_skipped(client, workers, hub):
    event = fixture_json("pipedrive/person_change.json")
    event["meta"]["entity"] = "deal"
    assert post(client, json.dumps(event).encode()).status_code == 200
    workers.drain()
    assert hub.store.connector_interactions("pipedrive", 10) == []
    assert hub.store.event_counts("pipedrive").get("skipped_unsupported_event") == 1


def test_chorus_own_write_echo_is_skipped(crm, client):
    seed_written(crm.hub, "person-maya", "pipedrive", "1042", "pipedrive", {SCORE_KEY: "72"})
    assert post(client, fixture_bytes("pipedrive/person_change.json")).status_code == 200
    drain(crm.hub)
    assert crm.hub.store.connector_interactions("pipedrive", 10) == []
    assert crm.hub.store.event_counts("pipedrive").get("skipped_echo") == 1


# ---- sink -----------------------------------------------------------------------------------
def test_known_person_id_is_patched_without_a_search(crm):
    with responses.RequestsMock() as rsps:
        rsps.patch(
            f"{API}/1042",
            json=fixture_json("pipedrive/person_response.json"),
            match=[
                matchers.header_matcher(API_TOKEN),
                matchers.json_params_matcher({"custom_fields": {SCORE_KEY: 71}}),
            ],
        )
        [result] = upsert(crm, [record(1, crm_ids={"pipedrive": "1042"})])
    assert (
        result.ok and result.crm_id == "1042" and not result.created and result.written == {SCORE_KEY: "71"}
    )


def test_unknown_person_is_searched_by_exact_email_then_patched(crm):
    with responses.RequestsMock() as rsps:
        rsps.get(
            f"{API}/search",
            json=fixture_json("pipedrive/person_search.json"),
            match=[
                matchers.query_param_matcher(
                    {"term": "fan1@example.com", "fields": "email", "exact_match": "true", "limit": "2"}
                )
            ],
        )
        rsps.patch(f"{API}/1042", json=fixture_json("pipedrive/person_response.json"))
        [result] = upsert(crm, [record(1)])
    assert result.ok and result.crm_id == "1042" and not result.created


def test_no_match_creates_the_person_with_its_email(crm):
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/search", json=fixture_json("pipedrive/person_search_empty.json"))
        rsps.post(
            API,
            json=fixture_json("pipedrive/person_response.json"),
            match=[
                matchers.json_params_matcher(
                    {
                        "name": "Fan Number1",
                        "emails": [{"value": "fan1@example.com", "primary": True, "label": "work"}],
                        "custom_fields": {SCORE_KEY: 71},
                    }
                )
            ],
        )
        [result] = upsert(crm, [record(1)])
    assert result.ok and result.created and result.crm_id == "1042"


def test_a_deleted_person_is_reported_gone_not_searched_and_one_failure_does_not_fail_others(crm, sleeps):
    """A 404 on the stored id is a person deleted in Pipedrive: reported gone (the engine follows
    on_crm_delete), never searched for and re-created under keep_deleted."""
    with responses.RequestsMock() as rsps:  # an unexpected search or POST fails the test
        rsps.patch(f"{API}/77", status=404, json={"success": False, "error": "Person not found"})
        rsps.patch(f"{API}/88", status=400, json={"success": False, "error": "Invalid custom field value"})
        for _ in range(4):
            rsps.patch(f"{API}/99", status=502)
        results = upsert(
            crm,
            [
                record(1, crm_ids={"pipedrive": "77"}),
                record(2, crm_ids={"pipedrive": "88"}),
                record(3, crm_ids={"pipedrive": "99"}),
            ],
        )
    gone, invalid, down = results
    assert gone.gone and not gone.ok and not gone.created
    assert not invalid.ok and not invalid.retryable and "Invalid custom field value" in invalid.error
    assert not down.ok and down.retryable


def test_bad_api_token_is_permanent(crm):
    with responses.RequestsMock() as rsps:
        rsps.patch(f"{API}/1042", status=401, json=fixture_json("pipedrive/unauthorized.json"))
        [result] = upsert(crm, [record(1, crm_ids={"pipedrive": "1042"})])
    assert not result.ok and not result.retryable and SECRETS["TEST_PIPEDRIVE_API_TOKEN"] not in result.error


@pytest.mark.parametrize("retry_after", ["2", None])
def test_429_then_success(crm, sleeps, retry_after):
    with responses.RequestsMock() as rsps:
        rsps.patch(f"{API}/1042", status=429, headers={"Retry-After": retry_after} if retry_after else {})
        rsps.patch(f"{API}/1042", json=fixture_json("pipedrive/person_response.json"))
        [result] = upsert(crm, [record(1, crm_ids={"pipedrive": "1042"})])
    assert result.ok and len(sleeps) == 1 and (sleeps[0] == 2.0 if retry_after else sleeps[0] <= 0.5)


def test_timeouts_end_retryable(crm, sleeps):
    with responses.RequestsMock() as rsps:
        for _ in range(4):
            rsps.get(f"{API}/search", body=requests.exceptions.Timeout())
        [result] = upsert(crm, [record(1)])
    assert not result.ok and result.retryable and len(sleeps) == 3


def test_search_failure_is_an_upstream_error_not_a_duplicate(crm):
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/search", status=403, json={"success": False, "error": "scope missing"})
        [result] = upsert(crm, [record(1)])
    assert not result.ok and not result.retryable  # no blind POST when the search could not run


# ---- create race: the search lags a create by seconds -------------------------------------
class LaggingPipedrive:
    """Persons API whose search never sees a person created in this test (the index lags)."""

    def __init__(self, rsps, on_create=None, searchable=()):
        self.creates, self.patches, self.on_create = 0, [], on_create
        found = {"success": True, "data": {"items": [{"item": {"id": int(i)}} for i in searchable]}}
        rsps.get(
            f"{API}/search", json=found if searchable else fixture_json("pipedrive/person_search_empty.json")
        )
        rsps.add_callback(responses.POST, API, callback=self.create)
        rsps.add_callback(responses.PATCH, re.compile(re.escape(API) + r"/\d+"), callback=self.patch)

    def create(self, request):
        self.creates += 1
        if self.on_create:
            self.on_create()  # another sync runs while this create is in flight
        return 201, {}, json.dumps(fixture_json("pipedrive/person_response.json"))

    def patch(self, request):
        self.patches.append(request.url.rsplit("/", 1)[1])
        return 200, {}, json.dumps(fixture_json("pipedrive/person_response.json"))


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self):
        return self.now


def test_second_sync_during_a_create_is_retried_then_updates_the_created_person(crm):
    second: list = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        api = LaggingPipedrive(rsps, on_create=lambda: second.extend(upsert(crm, [record(1)])))
        [first] = upsert(crm, [record(1)])
        # another Chorus person with the same address, written differently, after the create
        [later] = upsert(crm, [record(2, email=" FAN1@Example.com")])
    assert api.creates == 1
    assert first.ok and first.created and first.crm_id == "1042"
    assert not second[0].ok and second[0].retryable  # deferred, not created twice
    assert later.ok and not later.created and later.crm_id == "1042" and api.patches == ["1042"]


def test_two_concurrent_syncs_of_one_new_person_post_once(crm):
    both_searched = threading.Barrier(2, timeout=10)

    def search(request):
        both_searched.wait()  # neither has claimed or created when the other searches
        return 200, {}, json.dumps(fixture_json("pipedrive/person_search_empty.json"))

    results: list = []
    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.GET, f"{API}/search", callback=search)
        rsps.post(API, status=201, json=fixture_json("pipedrive/person_response.json"))
        workers = [
            threading.Thread(
                target=lambda n=n: results.extend(upsert(crm, [record(n, email="fan1@example.com")]))
            )
            for n in (1, 2)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(10)
        assert len([c for c in rsps.calls if c.request.method == "POST"]) == 1
    created, deferred = sorted(results, key=lambda r: not r.ok)
    assert created.ok and created.created and not deferred.ok and deferred.retryable


def test_a_claim_left_by_a_crash_before_the_create_expires(crm):
    from chalicelib.providers.crm_common import CREATE_CLAIM_SECONDS, CreateClaims

    clock = Clock()
    assert CreateClaims(crm.hub.store, clock).claim("pipedrive", "fan1@example.com").taken  # then died
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        api = LaggingPipedrive(rsps)
        [blocked] = upsert(crm, [record(1)], clock)
        clock.now += timedelta(seconds=CREATE_CLAIM_SECONDS + 1)
        [result] = upsert(crm, [record(1)], clock)
    assert not blocked.ok and blocked.retryable
    assert result.ok and result.created and api.creates == 1


def test_a_crash_after_the_create_updates_that_person_once_search_has_it(crm):
    from chalicelib.providers.crm_common import CREATE_CLAIM_SECONDS, CreateClaims

    clock = Clock()
    CreateClaims(crm.hub.store, clock).claim(
        "pipedrive", "fan1@example.com"
    )  # POSTed 1042, died before record
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        LaggingPipedrive(rsps)
        [blocked] = upsert(crm, [record(1)], clock)  # inside the lease: the search may still lag
    clock.now += timedelta(seconds=CREATE_CLAIM_SECONDS + 1)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        api = LaggingPipedrive(rsps, searchable=["1042"])  # by now the index has it
        [result] = upsert(crm, [record(1)], clock)
    assert not blocked.ok and blocked.retryable
    assert result.ok and not result.created and api.creates == 0 and api.patches == ["1042"]


@pytest.mark.parametrize("failure", [502, requests.exceptions.Timeout()])
def test_a_create_is_never_resent_blind(crm, sleeps, failure):
    """A 5xx or timeout may still have created the person: no second POST in the same call."""
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/search", json=fixture_json("pipedrive/person_search_empty.json"))
        if isinstance(failure, int):
            rsps.post(API, status=failure)
        else:
            rsps.post(API, body=failure)
        [result] = upsert(crm, [record(1)])
        [again] = upsert(crm, [record(1)])  # inside the lease: deferred, not re-created
        assert len([c for c in rsps.calls if c.request.method == "POST"]) == 1
    assert not result.ok and result.retryable and not again.ok and again.retryable


def test_sync_engine_passes_the_claims_one_post_for_two_people_with_one_email(crm):
    from chalicelib.schema import Person
    from chalicelib.sync.engine import run_sync

    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    for n in (1, 2):
        crm.hub.store.put_person(
            Person(person_id=f"p{n}", created_at=now, updated_at=now, email="fan1@example.com"), None
        )

    def job(n):
        return {"person_id": f"p{n}", "connector_id": "pipedrive", "requested_at": now.isoformat()}

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        api = LaggingPipedrive(rsps)
        outcome = run_sync(crm.hub, {"m1": job(1), "m2": job(2)})
    assert (
        api.creates == 1 and api.patches == ["1042"] and outcome.written == 2 and not outcome.failed_messages
    )


def _provider():
    from chalicelib.providers import get_provider

    return get_provider("pipedrive")


def upsert(crm, records, clock=None):
    """The provider's upsert as the sync engine calls it, with the store's create claims."""
    from chalicelib.providers.crm_common import CreateClaims

    return _provider().upsert(
        records,
        crm.connector("pipedrive"),
        crm.http,
        claims=CreateClaims(crm.hub.store, clock or crm.hub.clock),
    )


def test_a_record_behind_a_dead_claim_waits_for_the_lease_end_not_for_the_receive_limit(crm):
    # Retried every visibility timeout (5 s locally), five receives ran out before a 120 s lease
    # did and the record was dead-lettered; it now comes back once, when the lease has ended.
    from chalicelib.providers.crm_common import CREATE_CLAIM_SECONDS, CreateClaims
    from chalicelib.schema import Person
    from chalicelib.sync.engine import run_sync

    clock = Clock()
    CreateClaims(crm.hub.store, clock).claim("pipedrive", "fan1@example.com")  # then died
    clock.now += timedelta(seconds=20)
    crm.hub.clock = clock
    crm.hub.store.put_person(
        Person(person_id="p1", created_at=clock.now, updated_at=clock.now, email="fan1@example.com"), None
    )
    job = {"person_id": "p1", "connector_id": "pipedrive", "requested_at": clock.now.isoformat()}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        api = LaggingPipedrive(rsps)
        outcome = run_sync(crm.hub, {"m1": job})
    assert outcome.failed_messages == {"m1"} and api.creates == 0
    assert outcome.retry_after["m1"] == pytest.approx(CREATE_CLAIM_SECONDS - 20, abs=1)


def test_a_delete_without_the_person_id_is_a_malformed_entry_not_an_error(client, workers, hub):
    event = fixture_json("pipedrive/person_delete.json")
    del event["meta"]["entity_id"], event["previous"]["id"]
    assert post(client, json.dumps(event).encode()).status_code == 200
    workers.drain()
    assert hub.store.event_counts("pipedrive").get("skipped_malformed_entry") == 1
    assert hub.store.dead_letters("pipedrive", 10) == []
