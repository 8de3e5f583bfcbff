"""SurveyMonkey callbacks through the real route, queue, worker, API fetch and store."""

import base64
import hashlib
import hmac
import time

import pytest
import responses

from tests.support.senders import SECRETS, fixture_bytes, fixture_json

URL = "/webhooks/surveymonkey-nps"
API_KEY = (
    "sm-client-id-7f3a"  # options.api_key in tests/fixtures/surveymonkey/connectors/surveymonkey-nps.yaml
)
API = "https://api.surveymonkey.com/v3/surveys/405712839"
DETAILS = f"{API}/responses/118340988711/details"


def sm_headers(
    body: bytes, api_key: str = API_KEY, secret: str = SECRETS["TEST_SURVEYMONKEY_API_SECRET"]
) -> dict[str, str]:
    """As SurveyMonkey's docs: base64(HMAC-SHA1(key="{api_key}&{api_secret}", body)), sent with
    the callback media type SurveyMonkey uses (tests/fixtures/FACTS.md, SurveyMonkey)."""
    digest = hmac.new(f"{api_key}&{secret}".encode(), body, hashlib.sha1).digest()
    return {
        "Content-Type": "application/vnd.surveymonkey.response.v1+json",
        "Sm-Apikey": api_key,
        "Sm-Signature": base64.b64encode(digest).decode(),
    }


def post(client, name: str, headers=None):
    body = fixture_bytes(f"surveymonkey/{name}")
    return client.http.post(URL, body=body, headers=headers if headers is not None else sm_headers(body))


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr("chalicelib.providers.http.backoff_seconds", lambda attempt: 0)


def serve_ok(api, details="surveymonkey/response_details.json"):
    """The API answers: response details (replacing any failure registered before) and survey."""
    registered = {r.url for r in api.registered()}
    add = api.replace if DETAILS in registered else api.add
    add(responses.GET, DETAILS, json=fixture_json(details))
    if f"{API}/details" not in registered:
        api.add(responses.GET, f"{API}/details", json=fixture_json("surveymonkey/survey_details.json"))


def test_head_handshake_answers_200(client):
    response = client.http.request("HEAD", URL, headers={})
    assert response.status_code == 200
    assert client.http.get(URL).status_code == 405  # only HEAD is SurveyMonkey's handshake


def test_completed_response_is_fetched_and_mapped(client, workers, hub, api):
    serve_ok(api)
    assert post(client, "response_completed.json").status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("surveymonkey-nps", 10)
    assert item.kind == "survey_response" and item.external_id == "118340988711"
    assert item.nps == 10  # choice 3057839059 is the 11th of the matrix/nps question: "10"
    assert item.author.email == "ines.duarte@example.com"
    assert "What is the main reason for your score?: The onboarding call was superb" in item.text
    assert "Which plan are you on?: Growth" in item.text
    person = hub.store.get_person(item.person_id)
    assert {"email#ines.duarte@example.com", "hubspot#77001234", "x_handle#ines_builds"} <= {
        r.key for r in person.identities
    }
    fetched = [c.request for c in api.calls]
    assert all(
        r.headers["Authorization"] == f"Bearer {SECRETS['TEST_SURVEYMONKEY_ACCESS_TOKEN']}" for r in fetched
    )


def test_updated_response_replaces_the_same_interaction(client, workers, hub, api):
    serve_ok(api)
    assert post(client, "response_completed.json").status_code == 200
    workers.drain()
    serve_ok(api, "surveymonkey/response_details_updated.json")
    assert post(client, "response_updated.json").status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("surveymonkey-nps", 10)
    assert item.nps == 6 and "Changed my mind" in item.text
    assert item.event_type == "response_updated"
    assert hub.store.get_person(item.person_id).stats.interaction_count == 1


@pytest.mark.parametrize("removal", ["response_deleted.json", "response_disqualified.json"])
def test_a_deleted_or_disqualified_response_loses_its_answers_and_its_nps(client, workers, hub, api, removal):
    serve_ok(api)
    assert post(client, "response_completed.json").status_code == 200
    workers.drain()
    fetches = len(api.calls)
    assert post(client, removal).status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("surveymonkey-nps", 10)
    assert item.deleted and item.text is None and item.sentiment is None and item.nps is None
    assert len(api.calls) == fetches  # the response is gone: nothing to fetch
    person = hub.store.get_person(item.person_id)  # the respondent's, found by the response id
    assert person.stats.interaction_count == 0 and person.stats.latest_nps is None


def test_duplicate_callbacks_are_stored_once(client, workers, hub, api):
    serve_ok(api)
    for _ in range(3):
        assert post(client, "response_completed.json").status_code == 200
    workers.drain()
    assert len(hub.store.connector_interactions("surveymonkey-nps", 10)) == 1


def test_signature_cases(client):
    body = fixture_bytes("surveymonkey/response_completed.json")
    tampered = body.replace(b"118340988711", b"118340988712")
    assert post(client, "response_completed.json", {"Content-Type": "application/json"}).status_code == 401
    assert client.http.post(URL, body=tampered, headers=sm_headers(body)).status_code == 401
    assert post(client, "response_completed.json", sm_headers(body, secret="wrong")).status_code == 401
    assert (
        post(client, "response_completed.json", sm_headers(body, api_key="someone-else")).status_code == 401
    )


def test_other_events_are_skipped(client, workers, hub, api):
    assert post(client, "collector_created.json").status_code == 200
    workers.drain()
    assert hub.store.connector_interactions("surveymonkey-nps", 10) == []
    assert not api.calls


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 429, "headers": {"Retry-After": "120"}, "json": "surveymonkey/error_429.json"},
        {"status": 503, "headers": {}, "json": None},
    ],
)
def test_rate_limits_and_outages_leave_the_delivery_on_the_queue(client, workers, hub, api, failure):
    body = fixture_json(failure["json"]) if failure["json"] else None
    api.add(responses.GET, DETAILS, status=failure["status"], headers=failure["headers"], json=body)
    assert post(client, "response_completed.json").status_code == 200
    workers.drain()
    assert hub.store.connector_interactions("surveymonkey-nps", 10) == []
    assert hub.store.dead_letters("surveymonkey-nps", 10) == []

    serve_ok(api)  # the API recovers; SQS shows the message again after its visibility timeout
    time.sleep(1.1)
    workers.drain()
    [item] = hub.store.connector_interactions("surveymonkey-nps", 10)
    assert item.nps == 10


def test_revoked_token_dead_letters_the_delivery(client, workers, hub, api):
    api.add(responses.GET, DETAILS, status=401, json=fixture_json("surveymonkey/error_401.json"))
    assert post(client, "response_completed.json").status_code == 200
    workers.drain()
    [letter] = hub.store.dead_letters("surveymonkey-nps", 10)
    assert "401" in letter.reason
    serve_ok(api)
    time.sleep(1.1)
    workers.drain()
    assert hub.store.connector_interactions("surveymonkey-nps", 10) == []  # not retried


def test_token_never_appears_in_logs(client, workers, api, caplog):
    serve_ok(api)
    post(client, "response_completed.json")
    workers.drain()
    assert SECRETS["TEST_SURVEYMONKEY_ACCESS_TOKEN"] not in caplog.text
    assert "ines.duarte" not in caplog.text


def test_callback_media_type_is_accepted_as_surveymonkey_sends_it(client, workers, hub, api):
    serve_ok(api)
    body = fixture_bytes("surveymonkey/response_completed.json")
    headers = sm_headers(body)
    assert headers["Content-Type"] == "application/vnd.surveymonkey.response.v1+json"
    assert client.http.post(URL, body=body, headers=headers).status_code == 200
    plain = {**headers, "Content-Type": "application/json"}
    assert client.http.post(URL, body=body, headers=plain).status_code == 200
    other = {**headers, "Content-Type": "application/vnd.surveymonkey.survey.v1+xml"}
    assert client.http.post(URL, body=body, headers=other).status_code == 415
    workers.drain()
    assert len(hub.store.connector_interactions("surveymonkey-nps", 10)) == 1
