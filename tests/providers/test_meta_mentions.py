"""Instagram `mentions` carry only {media_id, comment_id}: with a page token the processing side
asks the Graph API for the mentioned comment or caption (answers shaped as Meta's mentioned_comment
and mentioned_media references show them), through the connector's budget."""

from __future__ import annotations

import responses

from tests.support.senders import SECRETS, fixture_bytes
from tests.support.social_senders import meta_headers

GRAPH = "https://graph.facebook.test/v26.0/17841405822304914"
URL = "/webhooks/instagram-mentions"


def deliver(client, body: bytes):
    return client.http.post(URL, body=body, headers=meta_headers(body))


def graph(calls):
    def answer(request):
        calls.append(request)
        edge = "comment" if "mentioned_comment" in request.url else "media"
        return 200, {"Content-Type": "application/json"}, fixture_bytes(f"meta/graph_mentioned_{edge}.json")

    return answer


def test_mentions_are_fetched_on_the_processing_side_with_text_and_username(lhub, client, workers):
    calls: list = []
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://localhost")
        mock.add_callback(responses.GET, GRAPH, callback=graph(calls))
        assert deliver(client, fixture_bytes("meta/instagram_mentions.json")).status_code == 200
        assert calls == []  # never on the ack path
        workers.drain()
    assert len(calls) == 2
    asked = {c.params["fields"] for c in calls}
    assert "mentioned_comment.comment_id(17894227972186120){id,text,timestamp,username,from}" in asked
    assert any(f.startswith("mentioned_media.media_id(17920112008063024){") for f in asked)
    assert {c.params["access_token"] for c in calls} == {SECRETS["TEST_META_PAGE_TOKEN"]}
    items = {i.external_id: i for i in lhub.store.connector_interactions("instagram-mentions", 10)}
    comment, caption = items["17894227972186120"], items["17920112008063024"]
    assert comment.kind == "mention" and comment.text.startswith("@chorus_hq the new advocate")
    assert comment.parent_id == "17918195224117851" and comment.sentiment.label == "positive"
    assert caption.url == "https://www.instagram.com/p/DAbCdEfGhIj/" and caption.parent_id is None
    person = lhub.store.get_person(comment.person_id)
    assert person.handles.get("instagram") == "maya_builds"
    assert lhub.store.get_person(caption.person_id).handles.get("instagram") == "devon_ops"


def test_a_throttled_graph_api_parks_the_budget_and_loses_nothing(lhub, client, workers):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, GRAPH, status=429, headers={"Retry-After": "300"})
        body = fixture_bytes("meta/instagram_mentions.json")
        assert deliver(client, body).status_code == 200
        workers.drain()
        again = body.replace(b"1795533900", b"1795534000").replace(b"17894227972186120", b"17894227972186121")
        assert deliver(client, again).status_code == 200
        workers.drain()
        assert len(mock.calls) == 1  # parked after the first 429: nothing else sent into it
    assert lhub.store.connector_interactions("instagram-mentions", 10) == []
    assert lhub.store.dead_letters("instagram-mentions", 10) == []


def test_without_a_page_token_a_mention_is_skipped_with_its_reason(client, workers, hub):
    body = fixture_bytes("meta/instagram_mentions.json")
    assert (
        client.http.post("/webhooks/instagram-brand", body=body, headers=meta_headers(body)).status_code
        == 200
    )
    workers.drain()
    assert hub.store.connector_interactions("instagram-brand", 10) == []
    assert hub.store.event_counts("instagram-brand")["skipped_needs_fetch"] == 2
