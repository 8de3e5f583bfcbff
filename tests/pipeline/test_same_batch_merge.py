"""A tweet and a survey by one person, processed in the same worker batch, end on one Person."""

import pytest

from tests.support.senders import fixture_bytes, typeform_headers, x_headers


@pytest.mark.parametrize("survey_first", [False, True])
def test_tweet_and_survey_in_one_batch_leave_no_orphan(client, workers, hub, survey_first):
    tweets = fixture_bytes("x/tweet_create_events.json")
    survey = fixture_bytes("typeform/form_response.json")
    posts = [
        ("/webhooks/x-brand", tweets, x_headers(tweets)),
        ("/webhooks/typeform-nps", survey, typeform_headers(survey)),
    ]
    for url, body, headers in reversed(posts) if survey_first else posts:
        assert client.http.post(url, body=body, headers=headers).status_code == 200
    workers.drain()
    people = {p.person_id: p for p in hub.store.advocates(-1000, 50)}
    for connector in ("x-brand", "typeform-nps"):
        for item in hub.store.connector_interactions(connector, 50):
            assert item.person_id in people, f"{connector} interaction on a person with no profile"
    maya = [p for p in people.values() if "x_handle#maya_builds" in {r.key for r in p.identities}]
    assert len(maya) == 1
    kinds = {i.provider for i in hub.store.person_interactions(maya[0].person_id)}
    assert kinds == {"x", "typeform"}
