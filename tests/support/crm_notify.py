"""Deliveries a CRM-records test sends through the hub: a Typeform survey from a person, and each
CRM's notifications of a record's life, shaped and authenticated as the vendor documents them
(tests/fixtures/FACTS.md)."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from itertools import count

from tests.support.admin import survey
from tests.support.senders import SECRETS, fixture_json, hubspot_headers, typeform_headers

HUBSPOT_URI = "https://hooks.example.com/webhooks/hubspot"
_event_ids = count(7_000_000)
_stamps = count(1795533700000, 1000)


def send_survey(client, email: str, nps: int = 9, token: str = "t1", hour: int = 9) -> None:
    """A Typeform response from `email`; a new token is a new response, `hour` its time of day."""
    doc = json.loads(survey(email=email, nps=nps, token=token))
    doc["form_response"]["submitted_at"] = f"2026-11-02T{hour:02d}:00:00Z"
    body = json.dumps(doc).encode()
    response = client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body))
    assert response.status_code == 200


def _post(client, path: str, doc, headers: dict[str, str]) -> None:
    body = json.dumps(doc).encode()
    response = client.http.post(path, body=body, headers={"Content-Type": "application/json", **headers})
    assert response.status_code == 200, response.body


# ---- HubSpot ----------------------------------------------------------------------------------
def hubspot_event(object_id: str, subscription: str, **fields) -> dict:
    """One event as HubSpot's webhooks API documents it (a JSON array of these is delivered)."""
    return {
        "eventId": next(_event_ids),
        "subscriptionId": 2871140,
        "portalId": 24681357,
        "appId": 3158642,
        "occurredAt": next(_stamps),
        "subscriptionType": subscription,
        "attemptNumber": 0,
        "objectId": int(object_id),
        "changeSource": "CRM_UI",
        "sourceId": "userId:61234987",
        **fields,
    }


def notify_hubspot(client, *events: dict) -> None:
    body = json.dumps(list(events)).encode()
    headers = {
        "Host": "hooks.example.com",
        "X-Forwarded-Proto": "https",
        **hubspot_headers(body, HUBSPOT_URI),
    }
    assert client.http.post("/webhooks/hubspot", body=body, headers=headers).status_code == 200


# ---- deletions, one per CRM that notifies them -----------------------------------------------------
def hubspot_deleted(client, object_id: str) -> None:
    notify_hubspot(client, hubspot_event(object_id, "contact.deletion", changeFlag="DELETED"))


def zoho_deleted(client, record_id: str) -> None:
    """A Notification API callback of a channel watching Contacts.all: operation delete."""
    callback = fixture_json("zoho/notification_delete.json")
    callback.update(ids=[record_id], server_time=next(_stamps))
    _post(client, "/webhooks/zoho", callback, {})


def pipedrive_deleted(client, person_id: str, merged_to: str | None = None) -> None:
    """A webhooks v2 delete.person: data null, previous the person's last state."""
    event = copy.deepcopy(fixture_json("pipedrive/person_delete.json"))
    event["meta"].update(id=str(uuid.uuid4()), entity_id=person_id)
    event["previous"]["id"] = int(person_id)
    if merged_to:
        event["meta"]["merged_to_id"] = merged_to
    credentials = f"chorus:{SECRETS['TEST_PIPEDRIVE_WEBHOOK_PASSWORD']}".encode()
    _post(
        client,
        "/webhooks/pipedrive",
        event,
        {"Authorization": "Basic " + base64.b64encode(credentials).decode()},
    )


def dynamics_deleted(client, contact_id: str) -> None:
    """A RemoteExecutionContext of the Delete message: Target is an EntityReference."""
    context = copy.deepcopy(fixture_json("dynamics/contact_delete.json"))
    context.update(PrimaryEntityId=contact_id, OperationId=str(uuid.uuid4()))
    context["InputParameters"][0]["value"]["Id"] = contact_id
    _post(client, "/webhooks/dynamics", context, {"x-chorus-key": SECRETS["TEST_DYNAMICS_WEBHOOK_KEY"]})


def zoho_changed(client, record_id: str) -> None:
    """A Notification API callback: a contact was updated in Zoho (Chorus fetches it)."""
    callback = fixture_json("zoho/notification.json")
    callback.update(ids=[record_id], server_time=next(_stamps), affected_fields=[{record_id: ["Email"]}])
    _post(client, "/webhooks/zoho", callback, {})
