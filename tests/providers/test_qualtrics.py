"""Qualtrics completedResponse events through the real route, queue, worker, API fetch and store."""

import time

import pytest
import responses

from tests.support.senders import SECRETS, fixture_bytes, fixture_json

TOKEN = SECRETS["TEST_QUALTRICS_URL_TOKEN"]
URL = f"/webhooks/qualtrics-nps?token={TOKEN}"
API = "https://yul1.qualtrics.com/API/v3/surveys/SV_cVn9uBwheR9hz01/responses/R_suq806jn8LGzhx7"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def post(client, name="completed_response.form", url=URL):
    return client.http.post(url, body=fixture_bytes(f"qualtrics/{name}"), headers=FORM)


@pytest.fixture
def api(monkeypatch):
    monkeypatch.setattr("chalicelib.providers.http.backoff_seconds", lambda attempt: 0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.mark.parametrize("name", ["completed_response.form", "completed_response_shared_key.form"])
def test_completed_response_is_fetched_and_mapped(client, workers, hub, api, name):
    api.add(responses.GET, API, json=fixture_json("qualtrics/response.json"))
    assert post(client, name).status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("qualtrics-nps", 10)
    assert item.kind == "survey_response" and item.external_id == "R_suq806jn8LGzhx7"
    assert item.nps == 10 and item.author.email == "amelie.roux@example.com"
    assert item.text == "What is the main reason for your score?: Chorus found our biggest fans in a week."
    person = hub.store.get_person(item.person_id)
    assert "hubspot#55004321" in {r.key for r in person.identities}
    assert api.calls[0].request.headers["X-API-TOKEN"] == SECRETS["TEST_QUALTRICS_API_TOKEN"]


def test_other_topics_are_skipped_without_a_fetch(client, workers, hub, api):
    assert post(client, "activate_survey.form").status_code == 200
    workers.drain()
    assert hub.store.connector_interactions("qualtrics-nps", 10) == [] and not api.calls


def test_url_token_cases(client):
    assert post(client, url="/webhooks/qualtrics-nps").status_code == 401
    assert post(client, url="/webhooks/qualtrics-nps?token=guess").status_code == 401


def test_duplicates_are_stored_once(client, workers, hub, api):
    api.add(responses.GET, API, json=fixture_json("qualtrics/response.json"))
    for _ in range(3):
        assert post(client).status_code == 200
    workers.drain()
    assert len(hub.store.connector_interactions("qualtrics-nps", 10)) == 1


def test_outage_then_recovery_and_revoked_token(client, workers, hub, api):
    api.add(responses.GET, API, status=429, headers={"Retry-After": "60"})
    assert post(client).status_code == 200
    workers.drain()
    assert hub.store.connector_interactions("qualtrics-nps", 10) == []
    api.replace(responses.GET, API, status=500)
    time.sleep(1.1)
    workers.drain()
    assert hub.store.connector_interactions("qualtrics-nps", 10) == []
    api.replace(responses.GET, API, json=fixture_json("qualtrics/response.json"))
    time.sleep(1.1)
    workers.drain()
    assert len(hub.store.connector_interactions("qualtrics-nps", 10)) == 1
    assert hub.store.dead_letters("qualtrics-nps", 10) == []


def test_unauthorized_is_dead_lettered(client, workers, hub, api):
    api.add(responses.GET, API, status=401, json=fixture_json("qualtrics/error_401.json"))
    assert post(client).status_code == 200
    workers.drain()
    [letter] = hub.store.dead_letters("qualtrics-nps", 10)
    assert "401" in letter.reason and TOKEN not in str(letter.message)


def test_get_on_the_publication_url_is_answered_when_it_carries_the_token(client, workers, hub, api):
    """Qualtrics: "The publicationUrl must be able to handle HTTP GET/POST"."""
    response = client.http.get(URL)
    assert response.status_code == 200 and response.body == b""
    assert client.http.get("/webhooks/qualtrics-nps").status_code == 401
    assert client.http.get("/webhooks/qualtrics-nps?token=guess").status_code == 401
    workers.drain()
    assert hub.store.connector_interactions("qualtrics-nps", 10) == [] and not api.calls
