"""Fetch what a push leaves out (pipeline/authors.py): a Slack message names its author by id;
the processing side asks users.info once (answer shaped as Slack documents it), and the member
links to the person who already gave that email elsewhere."""

from __future__ import annotations

import json

import pytest
import responses

from tests.support.senders import SECRETS, fixture_bytes
from tests.support.social_senders import slack_headers

USERS_INFO = "https://slack.test/api/users.info"


@pytest.fixture(autouse=True)
def fresh_cache():
    from chalicelib.pipeline import authors

    authors._cache.clear()


def deliver(client, body: bytes):
    return client.http.post("/webhooks/slack-members", body=body, headers=slack_headers(body))


def message(ts: str, user: str = "U2147483697") -> bytes:
    body = json.loads(fixture_bytes("slack/message.json"))
    body["event"].update(ts=ts, event_ts=ts, user=user)
    body["event_id"] = f"Ev{ts.replace('.', '')}"
    return json.dumps(body).encode()


def test_the_author_is_fetched_once_on_the_processing_side_and_gains_an_email(lhub, client, workers):
    calls = []

    def users_info(request):
        calls.append(request)
        assert request.headers["Authorization"] == f"Bearer {SECRETS['TEST_SLACK_BOT_TOKEN']}"
        return 200, {"Content-Type": "application/json"}, fixture_bytes("slack/users_info.json")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://localhost")
        mock.add_callback(responses.GET, USERS_INFO, callback=users_info)
        assert deliver(client, message("1795533700.000200")).status_code == 200
        assert calls == []  # never on the ack path
        assert deliver(client, message("1795533799.000300")).status_code == 200
        workers.drain()
    assert len(calls) == 1 and "user=U2147483697" in calls[0].url  # cached for the second message
    stored = lhub.store.connector_interactions("slack-members", 10)
    assert len(stored) == 2 and {i.person_id for i in stored} == {stored[0].person_id}
    item = stored[0]
    assert item.author.email == "Maya.Chen@acme-customer.example" and item.author.display_name == "maya"
    person = lhub.store.get_person(item.person_id)
    assert person.email == "Maya.Chen@acme-customer.example"  # as typed, for the CRM
    assert "email#maya.chen@acme-customer.example" in {r.key for r in person.identities}
    assert "slack#U2147483697" in {r.key for r in person.identities}


def test_a_throttled_users_info_leaves_the_id_and_loses_nothing(lhub, client, workers):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, USERS_INFO, status=429, headers={"Retry-After": "30"})
        assert deliver(client, message("1795533700.000200")).status_code == 200
        workers.drain()
        assert deliver(client, message("1795533800.000400", user="U999")).status_code == 200
        workers.drain()
        assert len(mock.calls) == 1  # the 429 blocked the budget: the second author waits
    stored = lhub.store.connector_interactions("slack-members", 10)
    assert len(stored) == 2 and all(i.author.email is None for i in stored)
    assert lhub.store.event_counts("slack-members")["author_fetch_deferred"] == 2


def test_unknown_user_or_missing_scope_keeps_the_push_author(lhub, client, workers):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(
            responses.GET, USERS_INFO, json={"ok": False, "error": "missing_scope", "needed": "users:read"}
        )
        assert deliver(client, message("1795533700.000200")).status_code == 200
        workers.drain()
    [item] = lhub.store.connector_interactions("slack-members", 10)
    assert item.author.provider_user_id == "U2147483697" and item.author.email is None
