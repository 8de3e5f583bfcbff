"""One person speaks on X, takes a survey, then comments on Facebook: one Person, one timeline.

What ties them, honestly: the survey link carried the respondent's X handle and Facebook id as
Typeform hidden fields (mapped to the `x_handle` and `facebook` identity namespaces in the
connector file), and the respondent typed their email. The tweet's author handle matches the
hidden x_handle; the Facebook comment's author id matches the hidden facebook id. Without the
survey nothing links the X account to the Facebook account (names are never used to match).
Persons are not merged after the fact: had the tweet and the comment both arrived before the
survey, they would stay two Persons (the survey would join the first one it finds).
"""

import json
import shutil

import pytest

from tests.support.paths import CONNECTORS
from tests.support.senders import fixture_bytes, typeform_headers, x_headers
from tests.support.social_senders import meta_headers

FACEBOOK_ID = "7391046285513327"


@pytest.fixture
def social_connectors(aws, tmp_path, use_connectors):
    """X, Facebook and a survey whose hidden fields carry the X handle and the Facebook id."""
    folder = tmp_path / "connectors"
    folder.mkdir()
    for name in ("x-brand.yaml", "facebook-page.yaml"):
        shutil.copy(CONNECTORS / name, folder / name)
    (folder / "typeform-social.yaml").write_text(
        "id: typeform-social\nprovider: typeform\nsecrets:\n  signing: env:TEST_TYPEFORM_SECRET\n"
        "options:\n  hidden_fields:\n    x_handle: x_handle\n    facebook_id: facebook\n"
    )
    use_connectors(folder)


def test_x_survey_and_facebook_end_up_on_one_person(social_connectors, client, workers, hub):

    tweets = fixture_bytes("x/tweet_create_events.json")  # Maya (@maya_builds) and Devon
    assert client.http.post("/webhooks/x-brand", body=tweets, headers=x_headers(tweets)).status_code == 200
    workers.drain()

    survey = json.loads(fixture_bytes("typeform/form_response.json"))
    survey["form_response"]["hidden"]["facebook_id"] = FACEBOOK_ID
    body = json.dumps(survey, indent=2).encode()
    assert (
        client.http.post("/webhooks/typeform-social", body=body, headers=typeform_headers(body)).status_code
        == 200
    )
    workers.drain()

    feed = fixture_bytes("meta/page_feed_batch.json")  # Maya's comment, by Facebook id 7391046285513327
    assert (
        client.http.post("/webhooks/facebook-page", body=feed, headers=meta_headers(feed)).status_code == 200
    )
    workers.drain()

    tweet = next(
        i for i in hub.store.connector_interactions("x-brand", 10) if i.author.handle == "maya_builds"
    )
    comment = next(
        i
        for i in hub.store.connector_interactions("facebook-page", 10)
        if i.author.provider_user_id == FACEBOOK_ID
    )
    [response] = hub.store.connector_interactions("typeform-social", 10)
    assert tweet.person_id == response.person_id == comment.person_id

    timeline = hub.store.person_interactions(tweet.person_id)
    assert sorted(i.provider for i in timeline) == ["facebook", "typeform", "x"]  # ordered by occurred_at
    person = hub.store.get_person(tweet.person_id)
    keys = {r.key for r in person.identities}
    assert {
        "x#1420873350012977153",
        "x_handle#maya_builds",
        "email#maya.chen@example.com",
        f"facebook#{FACEBOOK_ID}",
    } <= keys
    assert person.stats.interaction_count == 3
    devon = next(i for i in hub.store.connector_interactions("x-brand", 10) if i.author.handle == "devon_ops")
    assert devon.person_id != tweet.person_id
