"""Reddit listings (shaped as the API documents its Listing of t3 links and t1 comments) through
the listener, the queue, the worker and the store: OAuth client credentials, the rate-limit
headers, and a post that also arrives through the subreddit's RSS feed."""

from __future__ import annotations

import base64
import copy
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from tests.support.listener_fakes import NOW, CapturingQueue, poll
from tests.support.senders import SECRETS, fixture_bytes

API = "https://oauth.reddit.test"
TOKEN = "https://www.reddit.test/api/v1/access_token"
SEARCH = json.loads(fixture_bytes("reddit/search_new.json"))
COMMENTS = json.loads(fixture_bytes("reddit/subreddit_comments.json"))


def listing(*things: dict) -> dict:
    """A Listing of these things, in this order (Reddit's newest first; posts of one second in
    whatever order it serves them)."""
    body = copy.deepcopy(SEARCH)
    body["data"].update(children=[{"kind": t["name"][:2], "data": t} for t in things], dist=len(things))
    return body


def post(name: str, created_utc: float) -> dict:
    thing = copy.deepcopy(SEARCH["data"]["children"][0]["data"])
    fullname = f"t3_{name}"
    thing.update(name=fullname, id=name, created_utc=created_utc, created=created_utc)
    thing["permalink"] = f"/r/CustomerSuccess/comments/{name}/chorus_post_{name}/"
    return thing


class FakeReddit:
    """Reddit's listings: `limit` things a page (at most 100, default 25), `after` the fullname
    the page starts after, `data.after` the page's last fullname while more follow (else null)."""

    def __init__(self):
        self.tokens = 0
        self.token_requests = 0
        self.token_answer: tuple[int, dict, str] | None = None  # a canned answer instead
        self.calls: list[str] = []
        self.params: list[dict[str, str]] = []
        self.remaining = "598.0"
        self.listings = {
            "/search": SEARCH,
            "/r/CustomerSuccess/new": SEARCH,
            "/r/CustomerSuccess/comments": COMMENTS,
        }

    def token(self, request):
        self.token_requests += 1
        if self.token_answer is not None:
            return self.token_answer
        expected = base64.b64encode(
            f"{SECRETS['TEST_REDDIT_CLIENT_ID']}:{SECRETS['TEST_REDDIT_CLIENT_SECRET']}".encode()
        ).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return 401, {}, json.dumps({"message": "Unauthorized", "error": 401})
        assert parse_qs(request.body)["grant_type"] == ["client_credentials"]
        self.tokens += 1
        return (
            200,
            {},
            json.dumps(
                {"access_token": "app-token-1", "token_type": "bearer", "expires_in": 86400, "scope": "*"}
            ),
        )

    def listing(self, request):
        path = request.path_url.split("?", 1)[0]
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.calls.append(path)
        self.params.append(params)
        assert request.headers["Authorization"] == "bearer app-token-1"
        assert request.headers["User-Agent"].startswith("server:chorus-listener")
        headers = {
            "X-Ratelimit-Used": "2",
            "X-Ratelimit-Remaining": self.remaining,
            "X-Ratelimit-Reset": "412",
        }
        body = copy.deepcopy(self.listings[path])
        children = body["data"]["children"]
        names = [c["data"]["name"] for c in children]
        start = 0
        if "after" in params:  # an anchor no longer listed: an empty page, as Reddit answers
            start = names.index(params["after"]) + 1 if params["after"] in names else len(names)
        limit = min(int(params.get("limit", 25)), 100)
        page = children[start : start + limit]
        more = bool(page) and start + limit < len(children)
        body["data"].update(
            children=page,
            dist=len(page),
            after=page[-1]["data"]["name"] if more else None,
            before=page[0]["data"]["name"] if start and page else None,
        )
        return 200, headers, json.dumps(body)


@pytest.fixture
def reddit():
    from chalicelib.providers import oauth

    oauth.clear_cache()
    fake = FakeReddit()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, TOKEN, callback=fake.token)
        for path in fake.listings:
            mock.add_callback(responses.GET, API + path, callback=fake.listing)
        mock.add(
            responses.GET,
            "https://www.reddit.com/r/CustomerSuccess/.rss",
            body=fixture_bytes("reddit/subreddit_feed.xml"),
            content_type="application/atom+xml; charset=UTF-8",
        )
        yield fake


def test_posts_and_comments_become_interactions_with_one_token(lhub, reddit, workers):
    outcome = poll(lhub, "reddit-brand")
    assert {f.feed: f.found for f in outcome.feeds} == {
        "search:Chorus": 1,
        "r/CustomerSuccess/new": 1,
        "r/CustomerSuccess/comments": 1,
    }
    assert reddit.tokens == 1  # cached across feeds
    workers.drain()
    stored = {i.external_id: i for i in lhub.store.connector_interactions("reddit-brand", 10)}
    assert set(stored) == {"t3_1h3xk9q", "t1_m0x7abc"}  # the post found twice is one interaction
    post, comment = stored["t3_1h3xk9q"], stored["t1_m0x7abc"]
    assert post.kind == "post" and comment.kind == "comment" and comment.parent_id == "t3_1h3xk9q"
    assert post.text.startswith("Anyone else closing the NPS loop with Chorus?") and post.public
    assert (
        post.url
        == "https://www.reddit.com/r/CustomerSuccess/comments/1h3xk9q/anyone_else_closing_the_nps_loop_with_chorus/"
    )
    assert post.author.handle == "maya_builds" and comment.thread_id == "t3_1h3xk9q"
    person = lhub.store.get_person(post.person_id)
    assert {r.key for r in person.identities} == {"reddit#maya_builds", "reddit_handle#maya_builds"}


def test_the_next_poll_queues_nothing_already_seen(lhub, reddit):
    poll(lhub, "reddit-brand")
    reddit.calls.clear()
    again = poll(lhub, "reddit-brand")
    assert again.found == 0 and len(reddit.calls) == 3  # one call per feed
    newer = copy.deepcopy(SEARCH)
    newer["data"]["children"][0]["data"].update(name="t3_1h3zzzz", created_utc=1796031000.0, id="1h3zzzz")
    newer["data"]["children"].append(SEARCH["data"]["children"][0])
    reddit.listings["/search"] = newer
    assert [i["name"] for i in poll(lhub, "reddit-brand").feeds[0].items] == ["t3_1h3zzzz"]


def test_a_spent_rate_limit_window_pauses_reddit_until_its_reset(lhub, reddit):
    reddit.remaining = "0.0"
    first = poll(lhub, "reddit-brand")
    assert first.feeds[0].found == 1 and all(f.throttled for f in first.feeds[1:])
    calls = len(reddit.calls)
    assert all(f.throttled for f in poll(lhub, "reddit-brand").feeds) and len(reddit.calls) == calls


def test_the_subreddit_feed_and_the_api_store_one_interaction(lhub, reddit, workers):
    poll(lhub, "rss-subreddit")
    workers.drain()
    poll(lhub, "reddit-brand")
    workers.drain()
    [post] = [i for i in lhub.store.connector_interactions("rss-subreddit", 10)]
    assert lhub.store.connector_interactions("reddit-brand", 10)[0].external_id == "t1_m0x7abc"
    assert post.seen_by == ["rss-subreddit", "reddit-brand"]
    assert post.text.startswith("Anyone else closing the NPS loop with Chorus?")


def test_wrong_app_credentials_are_a_recorded_failure(lhub, reddit, monkeypatch):
    monkeypatch.setenv("TEST_REDDIT_CLIENT_SECRET", "wrong")
    from chalicelib.runtime.aws import reset_hub

    reset_hub()
    from chalicelib.runtime.aws import get_hub

    outcome = poll(get_hub(), "reddit-brand")
    assert all("HTTP 401" in (f.error or "") for f in outcome.feeds)
    assert "wrong" not in json.dumps([f.error for f in outcome.feeds])


@pytest.mark.parametrize(
    "second_run",
    [
        ["e", "c", "d", "a", "b", "o"],  # c (queued on run 1's second page) now on the first page
        ["e", "a", "d", "c", "b", "o"],  # an already queued post ends the first page, d follows
    ],
)
def test_posts_of_the_cursors_second_across_pages_are_each_queued_once(lhub, reddit, second_run):
    lhub.ingest_queue = CapturingQueue()
    options = lhub.connectors.get("reddit-brand").options
    options.page_size, options.subreddits = 2, []
    t = NOW.timestamp() - 600
    posts = {n: post(n, t) for n in "abcd"}  # one second: the cursor's after the first run
    posts["e"], posts["o"] = post("e", t + 1), post("o", t - 60)
    reddit.listings["/search"] = listing(*(posts[n] for n in "abco"))  # pages [a b] [c o]
    first = poll(lhub, "reddit-brand")
    assert [i["name"] for i in first.feeds[0].items] == ["t3_a", "t3_b", "t3_c", "t3_o"]
    assert [p.get("after") for p in reddit.params] == [None, "t3_b"] and reddit.params[0]["limit"] == "2"

    # d was indexed late with the same created_utc; e is newer; Reddit orders the second's posts anew
    reddit.listings["/search"] = listing(*(posts[n] for n in second_run))
    second = poll(lhub, "reddit-brand")
    assert sorted(i["name"] for i in second.feeds[0].items) == ["t3_d", "t3_e"]
    assert second.feeds[0].finished and second.feeds[0].calls == 3  # back to o, older than the cursor

    queued = [json.loads(base64.b64decode(m["body_b64"]))["item"]["name"] for m in lhub.ingest_queue.messages]
    assert sorted(queued) == [f"t3_{n}" for n in "abcdeo"]  # each exactly once over the two runs
    assert poll(lhub, "reddit-brand").found == 0


def test_a_cursor_written_before_the_shared_paging_helper_still_reads(lhub, reddit):
    from chalicelib.store.listener_cursors import ListenerCursor

    options = lhub.connectors.get("reddit-brand").options
    options.page_size, options.subreddits = 2, []
    t = NOW.timestamp() - 600
    a, b, c, o = post("a", t), post("b", t), post("c", t), post("o", t - 3600)  # o: before the overlap
    reddit.listings["/search"] = listing(c, a, b, o)
    old = json.dumps({"t": t, "names": ["t3_a", "t3_b"]})  # the {"t", "names"} shape of before
    lhub.store.put_cursor(ListenerCursor("reddit-brand", "search:Chorus", position=old))
    assert [i["name"] for i in poll(lhub, "reddit-brand").feeds[0].items] == ["t3_c"]
    cursor = lhub.store.get_cursor("reddit-brand", "search:Chorus")
    assert json.loads(cursor.position) == {"t": t, "ids": ["t3_a", "t3_b", "t3_c"]}
    # a run cut short before the upgrade goes on from its old resume
    resume = json.dumps({"after": "t3_a", "pending": {"t": t, "names": ["t3_a", "t3_b", "t3_c"]}})
    lhub.store.put_cursor(
        ListenerCursor("reddit-brand", "search:Chorus", position=old, resume=resume, resume_position=old)
    )
    resumed = poll(lhub, "reddit-brand")
    assert resumed.feeds[0].error is None and resumed.feeds[0].items == []
    assert reddit.params[-1]["after"] == "t3_a"
    cursor = lhub.store.get_cursor("reddit-brand", "search:Chorus")
    assert cursor.resume is None and json.loads(cursor.position)["ids"] == ["t3_a", "t3_b", "t3_c"]


def budget_blocked_for(hub) -> float:
    import time

    from chalicelib.sync.budget import budget_key

    key = f"{budget_key(hub.connectors.get('reddit-brand'))}:"
    return hub.store.budget_blocked_until(key) - time.time()


def test_the_token_request_is_charged_to_reddits_budget(lhub, reddit, monkeypatch):
    from chalicelib.providers.reddit import RedditProvider

    monkeypatch.setattr(RedditProvider, "poll_rate_limit", (2, 600.0))  # two calls this window
    outcome = poll(lhub, "reddit-brand")
    assert reddit.tokens == 1 and reddit.calls == ["/search"]  # the token took the other call
    assert outcome.calls == 2 and outcome.feeds[0].found == 1
    assert all(f.throttled and f.error is None and f.calls == 0 for f in outcome.feeds[1:])


def test_a_throttled_token_request_backs_reddit_off_for_its_retry_after(lhub, reddit):
    reddit.token_answer = (429, {"Retry-After": "900"}, json.dumps({"message": "Too Many Requests"}))
    outcome = poll(lhub, "reddit-brand")
    assert outcome.feeds[0].error.startswith("HTTP 429") and reddit.token_requests == 1  # no retry
    assert all(f.throttled for f in outcome.feeds[1:]) and reddit.calls == []
    assert 800 < budget_blocked_for(lhub) <= 900  # Retry-After, not the default back-off
    cursor = lhub.store.get_cursor("reddit-brand", "search:Chorus")
    assert cursor.failures == 1 and cursor.position is None
    reddit.token_answer = None
    again = poll(lhub, "reddit-brand")  # within Retry-After: no request at all
    assert all(f.throttled for f in again.feeds) and reddit.token_requests == 1


def test_a_backfill_with_since_keeps_the_later_cursor(lhub, reddit, workers):
    from datetime import timedelta

    options = lhub.connectors.get("reddit-brand").options
    options.subreddits = []
    t = NOW.timestamp() - 600
    a, b, old = post("a", t - 60), post("b", t), post("old", t - 2 * 86400)
    reddit.listings["/search"] = listing(b, a)
    poll(lhub, "reddit-brand")
    workers.drain()
    cursor = json.loads(lhub.store.get_cursor("reddit-brand", "search:Chorus").position)
    assert cursor == {"t": t, "ids": ["t3_b"], "recent": [[t - 60, "t3_a"]]}  # a: in search's overlap
    reddit.listings["/search"] = listing(a, old)  # b was removed; an older post shows to a backfill
    backfill = poll(lhub, "reddit-brand", since=NOW - timedelta(days=3))
    assert [i["name"] for i in backfill.feeds[0].items] == ["t3_a", "t3_old"]
    assert json.loads(lhub.store.get_cursor("reddit-brand", "search:Chorus").position) == cursor
    workers.drain()
    stored = lhub.store.connector_interactions("reddit-brand", 10)
    assert sorted(i.external_id for i in stored) == ["t3_a", "t3_b", "t3_old"]  # a once


def test_a_search_result_indexed_late_is_queued_once_and_an_empty_poll_costs_one_call(lhub, reddit, workers):
    lhub.ingest_queue = CapturingQueue()
    options = lhub.connectors.get("reddit-brand").options
    options.subreddits = []
    t = NOW.timestamp() - 600
    early, newest, late = post("early", t - 120), post("newest", t), post("late", t - 600)
    reddit.listings["/search"] = listing(newest, early)
    assert [i["name"] for i in poll(lhub, "reddit-brand").feeds[0].items] == ["t3_newest", "t3_early"]
    # search now shows a post created ten minutes before the cursor: it was indexed late
    reddit.listings["/search"] = listing(newest, early, late)
    reddit.calls.clear()
    second = poll(lhub, "reddit-brand")
    assert [i["name"] for i in second.feeds[0].items] == ["t3_late"] and len(reddit.calls) == 1
    reddit.calls.clear()
    third = poll(lhub, "reddit-brand")  # nothing new: one call, nothing queued again
    assert third.found == 0 and len(reddit.calls) == 1
    queued = [json.loads(base64.b64decode(m["body_b64"]))["item"]["name"] for m in lhub.ingest_queue.messages]
    assert sorted(queued) == ["t3_early", "t3_late", "t3_newest"]  # each once
    # the window is bounded: a post older than the cursor less the overlap is not re-read for
    options.search_overlap_minutes = 5
    reddit.listings["/search"] = listing(newest, early, late, post("later", t - 1200))
    assert poll(lhub, "reddit-brand").found == 0


def test_subreddit_listings_re_read_no_overlap(lhub, reddit):
    options = lhub.connectors.get("reddit-brand").options
    options.search = False
    poll(lhub, "reddit-brand")
    positions = [json.loads(c.position) for c in lhub.store.connector_cursors("reddit-brand")]
    assert positions and all("recent" not in p for p in positions)
