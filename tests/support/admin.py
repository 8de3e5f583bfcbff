"""Deliveries for the admin, privacy and closed-loop tests, signed with tests/senders.py."""

from __future__ import annotations

import copy
import json
import time

from tests.support.senders import fixture_json, hubspot_headers, typeform_headers, x_headers

HUBSPOT_PUBLIC = {"Host": "hooks.example.com", "X-Forwarded-Proto": "https"}
HUBSPOT_URI = "https://hooks.example.com/webhooks/hubspot"


def body_of(client, path: str, headers: dict, method: str = "GET"):
    response = getattr(client.http, method.lower())(path, headers=headers)
    assert response.status_code == 200, (path, response.status_code, response.body)
    return json.loads(response.body)


def follow(client, path: str, headers: dict) -> tuple[list[dict], int]:
    """Every item of a paginated list, following `next`; also how many pages it took."""
    items, pages, cursor = [], 0, None
    while True:
        sep = "&" if "?" in path else "?"
        page = body_of(client, path + (f"{sep}next={cursor}" if cursor else ""), headers)
        items += page["items"]
        pages += 1
        cursor = page["next"]
        if not cursor:
            return items, pages


def survey(
    fixture: str = "typeform/form_response.json",
    *,
    token: str | None = None,
    nps: int | None = None,
    email: str | None = None,
    padding: int = 0,
) -> bytes:
    """A Typeform delivery from the fixture; a new token makes it a new response."""
    doc = copy.deepcopy(fixture_json(fixture))
    response = doc["form_response"]
    if token:
        response["token"] = token
        doc["event_id"] = "ev-" + token
    for answer in response["answers"]:
        if nps is not None and answer.get("type") == "number" and answer["field"].get("type") == "nps":
            answer["number"] = nps
        if email is not None and answer.get("type") == "email":
            answer["email"] = email
    if padding:
        doc["padding"] = "x" * padding  # too big for a queue message: the claim check kicks in
    return json.dumps(doc).encode()


def send_survey(client, body: bytes) -> None:
    assert (
        client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body)).status_code
        == 200
    )


def tweet(text: str | None = None, *, tweet_id: str | None = None) -> bytes:
    doc = copy.deepcopy(fixture_json("x/tweet_create_events.json"))
    event = doc["tweet_create_events"][0]
    if text is not None:
        event["text"] = text
        event.pop("extended_tweet", None)
        event["display_text_range"] = [0, len(text)]
    if tweet_id:
        event["id"], event["id_str"] = int(tweet_id), tweet_id
    return json.dumps(doc).encode()


def send_tweet(client, body: bytes) -> None:
    assert client.http.post("/webhooks/x-brand", body=body, headers=x_headers(body)).status_code == 200


def hubspot_change(
    object_id: str, prop: str, value: str, event_id: int, occurred_ms: int | None = None
) -> bytes:
    return json.dumps(
        [
            {
                "eventId": event_id,
                "subscriptionId": 2871140,
                "portalId": 24681357,
                "appId": 3158642,
                "occurredAt": occurred_ms or int(time.time() * 1000),
                "subscriptionType": "contact.propertyChange",
                "attemptNumber": 0,
                "objectId": int(object_id),
                "propertyName": prop,
                "propertyValue": value,
                "changeSource": "CRM_UI",
                "sourceId": "userId:61234987",
            }
        ]
    ).encode()


def send_hubspot(client, body: bytes) -> None:
    response = client.http.post(
        "/webhooks/hubspot", body=body, headers={**HUBSPOT_PUBLIC, **hubspot_headers(body, HUBSPOT_URI)}
    )
    assert response.status_code == 200, response.body
