"""Pipedrive: webhooks v2 behind HTTP basic auth, and persons written without an upsert
(stored id first, else search by email, then update or create)."""
import base64
import json

import pytest
import requests
import responses
from responses import matchers

from tests.providers.crm_support import crm, drain, fresh_tokens, record, seed_written, sleeps  # noqa: F401
from tests.senders import SECRETS, fixture_bytes, fixture_json

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
        rsps.patch(f"{API}/1042", json=fixture_json("pipedrive/person_response.json"), match=[
            matchers.header_matcher(API_TOKEN), matchers.json_params_matcher({"custom_fields": {SCORE_KEY: 71}})])
        [result] = _provider().upsert([record(1, crm_ids={"pipedrive": "1042"})], crm.connector("pipedrive"), crm.http)
    assert result.ok and result.crm_id == "1042" and not result.created and result.written == {SCORE_KEY: "71"}


def test_unknown_person_is_searched_by_exact_email_then_patched(crm):
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/search", json=fixture_json("pipedrive/person_search.json"), match=[
            matchers.query_param_matcher({"term": "fan1@example.com", "fields": "email", "exact_match": "true",
                                          "limit": "2"})])
        rsps.patch(f"{API}/1042", json=fixture_json("pipedrive/person_response.json"))
        [result] = _provider().upsert([record(1)], crm.connector("pipedrive"), crm.http)
    assert result.ok and result.crm_id == "1042" and not result.created


def test_no_match_creates_the_person_with_its_email(crm):
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/search", json=fixture_json("pipedrive/person_search_empty.json"))
        rsps.post(API, json=fixture_json("pipedrive/person_response.json"), match=[matchers.json_params_matcher({
            "name": "Fan Number1", "emails": [{"value": "fan1@example.com", "primary": True, "label": "work"}],
            "custom_fields": {SCORE_KEY: 71}})])
        [result] = _provider().upsert([record(1)], crm.connector("pipedrive"), crm.http)
    assert result.ok and result.created and result.crm_id == "1042"


def test_deleted_person_falls_back_to_search_and_one_failure_does_not_fail_others(crm, sleeps):
    with responses.RequestsMock() as rsps:
        rsps.patch(f"{API}/77", status=404, json={"success": False, "error": "Person not found"})
        rsps.get(f"{API}/search", json=fixture_json("pipedrive/person_search_empty.json"))
        rsps.post(API, json=fixture_json("pipedrive/person_response.json"))
        rsps.patch(f"{API}/88", status=400, json={"success": False, "error": "Invalid custom field value"})
        for _ in range(4):
            rsps.patch(f"{API}/99", status=502)
        results = _provider().upsert([record(1, crm_ids={"pipedrive": "77"}), record(2, crm_ids={"pipedrive": "88"}),
                                      record(3, crm_ids={"pipedrive": "99"})], crm.connector("pipedrive"), crm.http)
    recreated, invalid, down = results
    assert recreated.ok and recreated.created
    assert not invalid.ok and not invalid.retryable and "Invalid custom field value" in invalid.error
    assert not down.ok and down.retryable


def test_bad_api_token_is_permanent(crm):
    with responses.RequestsMock() as rsps:
        rsps.patch(f"{API}/1042", status=401, json=fixture_json("pipedrive/unauthorized.json"))
        [result] = _provider().upsert([record(1, crm_ids={"pipedrive": "1042"})], crm.connector("pipedrive"), crm.http)
    assert not result.ok and not result.retryable and SECRETS["TEST_PIPEDRIVE_API_TOKEN"] not in result.error


@pytest.mark.parametrize("retry_after", ["2", None])
def test_429_then_success(crm, sleeps, retry_after):
    with responses.RequestsMock() as rsps:
        rsps.patch(f"{API}/1042", status=429, headers={"Retry-After": retry_after} if retry_after else {})
        rsps.patch(f"{API}/1042", json=fixture_json("pipedrive/person_response.json"))
        [result] = _provider().upsert([record(1, crm_ids={"pipedrive": "1042"})], crm.connector("pipedrive"), crm.http)
    assert result.ok and len(sleeps) == 1 and (sleeps[0] == 2.0 if retry_after else sleeps[0] <= 0.5)


def test_timeouts_end_retryable(crm, sleeps):
    with responses.RequestsMock() as rsps:
        for _ in range(4):
            rsps.get(f"{API}/search", body=requests.exceptions.Timeout())
        [result] = _provider().upsert([record(1)], crm.connector("pipedrive"), crm.http)
    assert not result.ok and result.retryable and len(sleeps) == 3


def test_search_failure_is_an_upstream_error_not_a_duplicate(crm):
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/search", status=403, json={"success": False, "error": "scope missing"})
        [result] = _provider().upsert([record(1)], crm.connector("pipedrive"), crm.http)
    assert not result.ok and not result.retryable  # no blind POST when the search could not run


def _provider():
    from chalicelib.providers import get_provider
    return get_provider("pipedrive")
