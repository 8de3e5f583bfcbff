"""LinkedIn Organization Social Action Notifications: the validation GET, X-LI-Signature, and a
company page's comments and mentions, URN-only ones completed from the REST API on the
processing side (fixtures shaped as tests/fixtures/FACTS.md's LinkedIn section quotes)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.config.loader import load_directory
from chalicelib.errors import ChorusError
from chalicelib.providers.base import Delivery, InboundRequest, ParseContext
from chalicelib.providers.linkedin import LinkedInProvider
from tests.conftest import TEST_CONNECTORS
from tests.fixtures.linkedin.samples import linkedin_headers
from tests.support.senders import SECRETS, fixture_bytes
from tests.support.social_senders import hex_hmac

URL = "/webhooks/linkedin-page"
API = "https://linkedin.test/rest"
POST = "urn:li:activity:7391204455987654321"
COMMENT = f"urn:li:comment:({POST},7391300012345678901)"
CODE = "890e4665-4dfe-4ab1-b689-ed553bceeed0"  # the challengeCode of LinkedIn's own example


def deliver(client, fixture: str):
    body = fixture_bytes(f"linkedin/{fixture}")
    return client.http.post(URL, body=body, headers=linkedin_headers(body))


def stored(hub) -> dict[str, object]:
    return {i.external_id: i for i in hub.store.connector_interactions("linkedin-page", 20)}


def test_validation_answers_the_challenge_with_hex_hmac_of_the_code_as_json(client):
    response = client.http.get(f"{URL}?challengeCode={CODE}")
    assert response.status_code == 200
    assert {k.lower(): v for k, v in response.headers.items()}["content-type"].startswith("application/json")
    expected = hex_hmac(SECRETS["TEST_LINKEDIN_CLIENT_SECRET"], CODE.encode())
    assert json.loads(response.body) == {"challengeCode": CODE, "challengeResponse": expected}


@pytest.mark.parametrize("code", ["", "hello", CODE + "0", "hmacsha256={}", '{"a":1}', CODE.replace("-", "")])
def test_validation_refuses_what_is_not_a_uuid(client, code):
    assert client.http.get(f"{URL}?{urlencode({'challengeCode': code})}").status_code in (400, 403)


def test_the_challenge_never_signs_a_delivery(client, workers, hub):
    body = fixture_bytes("linkedin/notifications.json")
    forged = client.http.get(f"{URL}?{urlencode({'challengeCode': 'hmacsha256=' + body.decode()})}")
    assert forged.status_code == 403
    answer = json.loads(client.http.get(f"{URL}?challengeCode={CODE}").body)["challengeResponse"]
    for bad in (answer, "hmacsha256=" + answer, hex_hmac(SECRETS["TEST_LINKEDIN_CLIENT_SECRET"], body)):
        headers = {"Content-Type": "application/json", "X-LI-Signature": bad}
        assert client.http.post(URL, body=body, headers=headers).status_code == 401
    workers.drain()
    assert stored(hub) == {}


@pytest.fixture(scope="module")
def page():
    return load_directory(TEST_CONNECTORS).get("linkedin-page")


def _get(code: str) -> InboundRequest:
    return InboundRequest("GET", "https://hub/webhooks/l", "/webhooks/l", {}, {"challengeCode": code}, b"")


codes = st.text(max_size=200) | st.uuids().map(str) | st.builds(lambda t: "hmacsha256=" + t, st.text())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(code=codes, body=st.binary(max_size=200))
def test_no_challenge_answer_ever_verifies_as_a_body_signature(page, code, body):
    provider = LinkedInProvider()
    for candidate in (code, "hmacsha256=" + body.decode("utf-8", "replace")):
        try:
            answer = provider.handshake(_get(candidate), page)
        except ChorusError:
            continue  # refused: nothing signed
        assert answer is not None and isinstance(answer.body, dict)
        for signed in (code.encode(), body, candidate.encode()):
            post = InboundRequest(
                "POST",
                "https://hub/webhooks/l",
                "/webhooks/l",
                {"content-type": "application/json", "x-li-signature": answer.body["challengeResponse"]},
                {},
                signed,
            )
            with pytest.raises(ChorusError) as refused:
                provider.verify(post, page, time.time())
            assert refused.value.status == 401


def test_signature_is_over_the_prefixed_body_and_a_prefixed_header_is_read_too(client):
    body = fixture_bytes("linkedin/notifications.json")
    digest = hex_hmac(SECRETS["TEST_LINKEDIN_CLIENT_SECRET"], b"hmacsha256=" + body)
    for value in (digest, digest.upper(), "hmacsha256=" + digest):
        headers = {"Content-Type": "application/json", "X-LI-Signature": value}
        assert client.http.post(URL, body=body, headers=headers).status_code == 200
    tampered = body.replace(b"love it", b"hate it")
    assert client.http.post(URL, body=tampered, headers=linkedin_headers(body)).status_code == 401


def test_comments_and_reshares_are_stored_and_the_page_itself_is_not(client, workers, hub):
    assert deliver(client, "notifications.json").status_code == 200
    workers.drain()
    items = stored(hub)
    assert set(items) == {COMMENT, "urn:li:share:7391355500011122233"}
    comment = items[COMMENT]
    assert (comment.kind, comment.parent_id, comment.thread_id) == ("comment", POST, POST)
    assert comment.text == "Chorus made our support team so much faster, love it!"
    assert comment.author.provider_user_id == "urn:li:person:Rk4vPz81aQ"
    assert comment.sentiment.label == "positive" and comment.brand_matches == ["Chorus"]
    reshare = items["urn:li:share:7391355500011122233"]
    assert (reshare.kind, reshare.parent_id) == ("mention", POST)
    assert hub.store.event_counts("linkedin-page")["skipped_own_account"] == 1
    person = hub.store.get_person(comment.person_id)
    assert "linkedin#urn:li:person:Rk4vPz81aQ" in {r.key for r in person.identities}


def test_an_edit_updates_the_comment_and_a_deletion_in_the_short_urn_form_deletes_it(client, workers, hub):
    assert deliver(client, "notifications.json").status_code == 200
    workers.drain()
    assert deliver(client, "comment_edit.json").status_code == 200
    workers.drain()
    edited = stored(hub)[COMMENT]
    assert edited.text.startswith("Edit: Chorus broke") and edited.sentiment.label == "negative"
    assert len(stored(hub)) == 2  # the same interaction, not a second one
    assert deliver(client, "comment_delete.json").status_code == 200
    workers.drain()
    gone = stored(hub)[COMMENT]
    assert gone.deleted and gone.text is None and gone.sentiment is None


def _api(mock, calls, path: str, fixture: str, status: int = 200, headers=None):
    def answer(request):
        calls.append(request)
        return status, {"Content-Type": "application/json", **(headers or {})}, fixture_bytes(fixture)

    mock.add_callback(responses.GET, API + path, callback=answer)


def test_a_urn_only_comment_is_fetched_on_the_processing_side(client, workers, hub):
    calls: list = []
    path = "/socialActions/urn%3Ali%3Aactivity%3A7391204455987654321/comments/7391400044445555666"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://localhost")
        _api(mock, calls, path, "linkedin/api_comment.json")
        assert deliver(client, "comment_urns_only.json").status_code == 200
        assert calls == []  # never on the ack path
        workers.drain()
    assert len(calls) == 1
    sent = calls[0].headers
    assert sent["Authorization"] == f"Bearer {SECRETS['TEST_LINKEDIN_ACCESS_TOKEN']}"
    assert sent["X-Restli-Protocol-Version"] == "2.0.0" and sent["LinkedIn-Version"].isdigit()
    item = stored(hub)[f"urn:li:comment:({POST},7391400044445555666)"]
    assert item.text.startswith("Does Chorus sync to Dynamics")
    assert item.author.provider_user_id == "urn:li:person:Vm3cHs09Yd"


def test_a_mention_is_fetched_from_the_posts_api(client, workers, hub):
    calls: list = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        _api(mock, calls, "/posts/urn%3Ali%3Ashare%3A7391500066667777888", "linkedin/api_post.json")
        assert deliver(client, "share_mention.json").status_code == 200
        workers.drain()
    item = stored(hub)["urn:li:share:7391500066667777888"]
    assert item.kind == "mention" and item.text.startswith("Three months with Chorus")
    assert item.author.provider_user_id == "urn:li:person:Tn2bWq55Ee" and item.parent_id is None


def test_a_decorated_reshare_without_words_is_a_repost_and_costs_no_call(client, workers, hub):
    body = json.loads(fixture_bytes("linkedin/notifications.json"))
    reshare = body["notifications"][2]
    del reshare["decoratedGeneratedActivity"]["share"]["text"]
    raw = json.dumps({**body, "notifications": [reshare]}).encode()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        assert client.http.post(URL, body=raw, headers=linkedin_headers(raw)).status_code == 200
        workers.drain()
        assert len(mock.calls) == 0
    item = stored(hub)["urn:li:share:7391355500011122233"]
    assert (item.kind, item.text, item.parent_id) == ("repost", None, POST)


def test_a_throttled_fetch_parks_the_budget_and_loses_nothing(client, workers, hub):
    calls: list = []
    second = fixture_bytes("linkedin/share_mention.json").replace(b"7104455020", b"7104455021")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        post = "/posts/urn%3Ali%3Ashare%3A7391500066667777888"
        _api(mock, calls, post, "linkedin/api_post.json", 429, {"Retry-After": "120"})
        assert deliver(client, "share_mention.json").status_code == 200
        workers.drain()
        assert client.http.post(URL, body=second, headers=linkedin_headers(second)).status_code == 200
        workers.drain()
    assert len(calls) == 1  # the 429 parked the connector's budget: the second waits unsent
    assert stored(hub) == {} and hub.store.dead_letters("linkedin-page", 10) == []


def test_without_a_token_a_urn_only_notification_is_skipped_with_its_reason():
    bare = load_directory(TEST_CONNECTORS).get("linkedin-page")
    del bare.config.secrets["access_token"]
    body = fixture_bytes("linkedin/share_mention.json")
    delivery = Delivery(bare, body, {}, {}, "application/json", "https://hub/webhooks/l", datetime.now(UTC))
    (skipped,) = LinkedInProvider().parse(delivery, ParseContext(now=datetime.now(UTC)))
    assert skipped.reason == "needs_fetch" and "access_token" in skipped.detail


def _page_options(options: dict):
    from chalicelib.config.loader import validate_documents

    doc = {
        "id": "linkedin-page",
        "provider": "linkedin",
        "secrets": {"signing": "env:TEST_LINKEDIN_CLIENT_SECRET"},
        "options": options,
    }
    valid, _, problems = validate_documents([("linkedin-page.yaml", doc)], {})
    return (valid[0][2] if valid else None), problems


@pytest.mark.parametrize("name", ["base_url", "api_url"])  # api_url: the deprecated name, still read
def test_the_rest_api_host_is_options_base_url(name):
    import requests

    options, problems = _page_options({name: "https://mirror.linkedin.test/rest"})
    assert problems == [] and options.base_url == "https://mirror.linkedin.test/rest"
    connector = load_directory(TEST_CONNECTORS).get("linkedin-page")
    connector.options = options
    body = fixture_bytes("linkedin/share_mention.json")
    delivery = Delivery(
        connector, body, {}, {}, "application/json", "https://hub/webhooks/l", datetime.now(UTC)
    )
    with responses.RequestsMock() as mock:
        mock.add(
            responses.GET,
            "https://mirror.linkedin.test/rest/posts/urn%3Ali%3Ashare%3A7391500066667777888",
            body=fixture_bytes("linkedin/api_post.json"),
            content_type="application/json",
        )
        (item,) = LinkedInProvider().parse(
            delivery, ParseContext(now=datetime.now(UTC), http=requests.Session())
        )
    assert item.text.startswith("Three months with Chorus")


def test_unknown_linkedin_options_are_still_refused():
    for options, field in (
        ({"api_host": "https://x.test"}, "api_host"),
        ({"base_url": "a", "api_url": "b"}, "api_url"),
    ):
        valid, problems = _page_options(options)
        assert valid is None and [(p[1], p[2]) for p in problems] == [
            (f"options.{field}", "Extra inputs are not permitted")
        ]
