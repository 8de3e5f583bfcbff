"""Typeform deliveries through the real route, queue, worker and store."""

import json

from chalicelib.pipeline.enrich import sentiment_of
from tests.support.senders import fixture_bytes, typeform_headers

URL = "/webhooks/typeform-nps"


def post(client, body: bytes, headers=None):
    return client.http.post(
        URL, body=body, headers=headers if headers is not None else typeform_headers(body)
    )


def test_signed_response_becomes_an_interaction_and_a_person(client, workers, hub):
    body = fixture_bytes("typeform/form_response.json")
    assert post(client, body).status_code == 200
    workers.drain()

    [item] = hub.store.connector_interactions("typeform-nps", 10)
    source = json.loads(body)["form_response"]
    assert item.kind == "survey_response"
    assert item.external_id == source["token"]
    assert item.nps == 9 and item.nps_category == "promoter"
    assert item.author.email == "maya.chen@example.com"
    assert "What's the one thing you'd tell a friend" in item.text  # answers labelled by question
    # sentiment is the respondent's: the answers alone, not the questions' wording ("friend")
    words = "\n".join(
        a["text"] if a["type"] == "text" else a["choice"]["label"]
        for a in source["answers"]
        if a["type"] in ("text", "choice")
    )
    assert item.sentiment == sentiment_of(words)
    assert sentiment_of(item.text).score > item.sentiment.score
    person = hub.store.get_person(item.person_id)
    keys = {r.key for r in person.identities}
    # hidden fields named in the connector file tie the respondent to X and HubSpot
    assert {"email#maya.chen@example.com", "x_handle#maya_builds", "hubspot#98765432101"} <= keys
    assert [c.name for c in person.advocate.components] == [
        "nps",
        "sentiment",
        "reach",
        "frequency",
        "recency",
        "public_advocacy",
    ]
    assert person.advocate.score == round(sum(c.points for c in person.advocate.components), 2)


def test_detractor_scores_below_promoter(client, workers, hub):
    for name in ("typeform/form_response.json", "typeform/form_response_detractor.json"):
        assert post(client, fixture_bytes(name)).status_code == 200
    workers.drain()
    people = {p.email: p for p in hub.store.advocates(-1000, 10)}
    promoter, detractor = people["maya.chen@example.com"], people["devon.park@example.com"]
    assert detractor.stats.latest_nps == 3
    assert detractor.advocate.score < promoter.advocate.score
    assert next(c for c in detractor.advocate.components if c.name == "nps").points < 0


def test_retried_delivery_is_stored_once(client, workers, hub):
    body = fixture_bytes("typeform/form_response.json")
    for _ in range(3):
        assert post(client, body).status_code == 200
    workers.drain()
    assert len(hub.store.connector_interactions("typeform-nps", 10)) == 1
    [person] = hub.store.advocates(-1000, 10)
    assert person.stats.interaction_count == 1


def test_signature_cases(client):
    body = fixture_bytes("typeform/form_response.json")
    tampered = body.replace(b"Maya", b"Mallory")
    assert post(client, tampered, typeform_headers(body)).status_code == 401
    assert post(client, body, {"Content-Type": "application/json"}).status_code == 401
    assert post(client, body, typeform_headers(body, secret="wrong")).status_code == 401


def test_malformed_json_is_400_after_a_valid_signature(client):
    body = b'{"event_id": "x", '
    response = post(client, body)
    assert response.status_code == 400
    assert json.loads(response.body)["error"] == "parse_error"


def test_ratings_keep_their_own_scale_and_none_overwrites_another(client, workers, hub):
    """Answers `{type: number, number, field{type: rating|opinion_scale}}` as Typeform documents;
    the scales are the form's (the webhook definition carries no steps)."""
    body = fixture_bytes("typeform/form_response_ratings.json")
    assert (
        client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body)).status_code
        == 200
    )
    workers.drain()
    [item] = [
        i
        for i in hub.store.connector_interactions("typeform-nps", 10)
        if i.external_id == "a1b2ratings9z8y7x6w5"
    ]
    ratings = {r.label: (r.value, r.scale) for r in item.ratings}
    assert ratings == {
        "How many stars would you give our onboarding?": (8.0, 10.0),
        "How easy was the HubSpot set-up?": (5.0, 5.0),  # the top of a 1-5 scale, not 5/10
        "How would you rate our support?": (4.0, 5.0),  # Typeform's default 5 stars
    }
    assert (item.rating.value, item.rating.scale) == (8.0, 10.0)
