"""The CRM of record stays clean: what a behavioural CRM ends up holding after real traffic.

Each test drives the whole pipeline (signed deliveries in, queue workers, sync out) against a
fake CRM that applies its API's semantics (tests/crm_fakes/), then asserts on what the CRM
holds, not only on the requests sent.
"""

from __future__ import annotations

import json

import responses

from tests.support.admin import survey
from tests.support.crm_fakes.hubspot import FakeHubSpot
from tests.support.senders import typeform_headers


def send_survey(client, email: str, nps: int = 9, token: str = "t1", hour: int = 9) -> None:
    """A Typeform response from `email`; a new token is a new response, `hour` its time of day."""
    doc = json.loads(survey(email=email, nps=nps, token=token))
    doc["form_response"]["submitted_at"] = f"2026-11-02T{hour:02d}:00:00Z"
    body = json.dumps(doc).encode()
    response = client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body))
    assert response.status_code == 200


@responses.activate
def test_the_crm_gets_the_email_as_typed_not_the_match_key(sink_client, sink_hub, workers):
    hubspot = FakeHubSpot().install()
    send_survey(sink_client, " Maya.Chen+beta@GMail.com ")
    workers.drain()
    assert hubspot.emails() == ["Maya.Chen+beta@gmail.com"]  # trimmed, domain lower-cased, nothing else
    [person] = sink_hub.store.advocates(-1000, 10)
    assert person.email == "Maya.Chen+beta@gmail.com"
    assert "email#mayachen@gmail.com" in {r.key for r in person.identities}  # the match key


@responses.activate
def test_a_dotted_gmail_contact_known_to_the_crm_is_updated_not_duplicated(sink_client, sink_hub, workers):
    hubspot = FakeHubSpot().install()
    existing = hubspot.create("maya.chen@gmail.com", firstname="Maya")
    send_survey(sink_client, "maya.chen@gmail.com")
    workers.drain()
    assert list(hubspot.contacts) == [existing] and hubspot.contacts[existing]["chorus_latest_nps"] == "9"
    # the same person writes again from the undotted form Gmail treats as the same mailbox
    send_survey(sink_client, "mayachen@gmail.com", nps=10, token="t2", hour=10)
    workers.drain()
    assert list(hubspot.contacts) == [existing] and hubspot.contacts[existing]["chorus_latest_nps"] == "10"
