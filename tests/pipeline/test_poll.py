"""The listener framework (pipeline/poll.py) against a behavioural fake of HN Search: what a run
costs in calls, where cursors stand after full, cut-short and failed runs, and that one
source's throttling never holds back another's."""

from __future__ import annotations

import base64
import json
import math
from datetime import timedelta

import pytest
import responses

from tests.support.listener_fakes import NOW, T0, CapturingQueue, FakeAlgolia, hn_hit, poll


def page_size(hub, size):
    hub.connectors.get("hn-brand").options.page_size = size


@pytest.mark.parametrize("n", [0, 1, 5, 6, 7])
def test_a_poll_finding_n_items_costs_at_most_ceil_n_over_page_size_plus_one(lhub, algolia, n):
    page_size(lhub, 3)
    algolia.hits = [hn_hit(1000 + i, T0 + i, f"Chorus note {i}") for i in range(n)]
    outcome = poll(lhub)
    assert outcome.found == n
    assert outcome.calls <= math.ceil(n / 3) + 1
    if n == 0:
        assert outcome.calls == 1  # an empty poll: one call per query


def test_the_next_poll_fetches_only_what_is_new_and_an_empty_one_costs_one_call(lhub, algolia):
    lhub.ingest_queue = CapturingQueue()
    algolia.hits = [hn_hit(1, T0, "Chorus one"), hn_hit(2, T0 + 10, "Chorus two")]
    assert poll(lhub).found == 2
    assert poll(lhub).found == 0 and len(algolia.calls) == 2  # nothing new: one call
    algolia.hits.append(hn_hit(3, T0 + 20, "Chorus three"))
    third = poll(lhub)
    assert [i["objectID"] for i in third.feeds[0].items] == ["3"]
    assert len(lhub.ingest_queue.messages) == 3
    cursor = lhub.store.get_cursor("hn-brand", "Chorus")
    assert cursor.position == str(T0 + 20) and cursor.resume is None and cursor.found == 3


def test_found_items_are_queued_as_webhook_envelopes(lhub, algolia):
    from chalicelib.schema import Envelope

    lhub.ingest_queue = CapturingQueue()
    algolia.hits = [hn_hit(7, T0, "Chorus rocks")]
    poll(lhub)
    [message] = lhub.ingest_queue.messages
    envelope = Envelope.model_validate(message)
    assert envelope.connector_id == "hn-brand" and envelope.provider == "hackernews"
    assert envelope.content_type == "application/json" and "?" not in envelope.url
    body = json.loads(base64.b64decode(envelope.body_b64))
    assert body["feed"] == "Chorus" and body["item"]["objectID"] == "7"


def test_a_run_cut_short_resumes_where_it_stopped_and_skips_nothing(lhub, algolia):
    lhub.ingest_queue = CapturingQueue()
    page_size(lhub, 2)
    algolia.hits = [hn_hit(100 + i, T0 + i, f"Chorus {i}") for i in range(5)]
    ticks = iter([0.0, 99.0, 99.0, 99.0])  # the time budget runs out after the first page
    first = poll(lhub, deadline=50.0, monotonic=lambda: next(ticks))
    assert first.found == 2 and not first.feeds[0].finished
    cursor = lhub.store.get_cursor("hn-brand", "Chorus")
    assert cursor.position is None and cursor.resume is not None  # never moved past unqueued items
    algolia.hits.append(hn_hit(200, T0 + 100, "Chorus posted meanwhile"))  # must not shift the pages
    second = poll(lhub)
    assert second.feeds[0].finished
    ids = [
        json.loads(base64.b64decode(m["body_b64"]))["item"]["objectID"] for m in lhub.ingest_queue.messages
    ]
    assert sorted(set(ids)) == sorted(str(100 + i) for i in range(5))  # all five, the new one next run
    third = poll(lhub)
    assert [i["objectID"] for i in third.feeds[0].items] == ["200"]


def test_past_algolias_1000_hit_limit_the_window_moves_down(lhub, algolia):
    page_size(lhub, 500)
    algolia.hits = [hn_hit(5000 + i, T0 - 3000 + i, f"Chorus {i}") for i in range(1200)]
    lhub.connectors.get("hn-brand").options.lookback_hours = 2
    outcome = poll(lhub)
    assert outcome.found >= 1200 and len({i["objectID"] for i in outcome.feeds[0].items}) == 1200
    assert outcome.calls <= math.ceil(1200 / 500) + 2


def test_a_429_backs_off_that_source_alone_honouring_retry_after(lhub, algolia):
    from chalicelib.pipeline.poll import run_due_pollers

    other = FakeAlgolia(hits=[hn_hit(9, T0, "Acme and Chorus")])
    algolia.answer = (429, {"Retry-After": "120"}, "")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, "https://hn.test/api/v1/search_by_date", callback=algolia)
        mock.add_callback(responses.GET, "https://hn-mirror.test/api/v1/search_by_date", callback=other)
        outcomes = {o.connector_id: o for o in run_due_pollers(lhub, NOW)}
        assert outcomes["hn-brand"].feeds[0].error.startswith("HTTP 429")
        assert outcomes["hn-other"].found == 2  # polled in the same run, undelayed (both its queries)
        cursor = lhub.store.get_cursor("hn-brand", "Chorus")
        assert cursor.failures == 1 and "429" in cursor.last_error and cursor.position is None
        calls = len(algolia.calls)
        again = poll(lhub)  # within Retry-After: not one call to the throttled source
        assert len(algolia.calls) == calls and again.feeds[0].throttled
        assert poll(lhub, "hn-other").calls == 2  # the other source is not blocked


def test_a_malformed_answer_is_a_recorded_failure_and_the_other_queries_advance(lhub):
    hits = FakeAlgolia(hits=[hn_hit(11, T0, "Acme launch"), hn_hit(12, T0, "Chorus release")])

    def answer(request):
        if "query=Acme" in request.url:
            return 200, {"Content-Type": "text/html"}, "<html>Service Unavailable</html>"
        return hits(request)

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, "https://hn-mirror.test/api/v1/search_by_date", callback=answer)
        outcome = poll(lhub, "hn-other")
    by_feed = {f.feed: f for f in outcome.feeds}
    assert "not JSON" in by_feed["Acme"].error and by_feed["Chorus"].found == 1
    assert lhub.store.get_cursor("hn-other", "Chorus").position == str(T0)
    failed = lhub.store.get_cursor("hn-other", "Acme")
    assert failed.position is None and "not JSON" in failed.last_error
    assert lhub.store.event_counts("hn-other")["poll_failed"] == 1


def test_due_pollers_follow_their_schedule(lhub, algolia):
    from chalicelib.pipeline.poll import is_due, run_due_pollers

    connector = lhub.connectors.get("hn-brand")
    assert is_due(lhub, connector, NOW)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:  # others fail: recorded
        mock.add_callback(responses.GET, "https://hn.test/api/v1/search_by_date", callback=algolia)
        mock.add_callback(
            responses.GET, "https://hn-mirror.test/api/v1/search_by_date", callback=FakeAlgolia()
        )
        polled = {o.connector_id for o in run_due_pollers(lhub, NOW)}  # every listener, never polled
    assert {"hn-brand", "hn-other", "rss-news", "bsky-brand", "mastodon-tags", "reddit-brand"} <= polled
    assert not is_due(lhub, connector, NOW + timedelta(minutes=14))
    assert is_due(lhub, connector, NOW + timedelta(minutes=15))


def test_overlapping_polls_and_restarts_store_each_item_once(lhub, algolia, workers):
    from chalicelib.runtime.aws import get_hub, reset_hub

    algolia.hits = [hn_hit(21, T0, "Chorus made our NPS loop work"), hn_hit(22, T0 + 5, "Chorus is great")]
    poll(lhub)
    workers.drain()
    # a restart that lost the cursor (or an overlapping window): the same items again
    lhub.store.put_cursor(type(lhub.store.get_cursor("hn-brand", "Chorus"))("hn-brand", "Chorus"))
    reset_hub()
    again = get_hub()
    again.clock = lambda: NOW
    poll(again)
    workers.drain()
    stored = again.store.connector_interactions("hn-brand", 50)
    assert sorted(i.external_id for i in stored) == ["21", "22"]


def test_a_backfill_with_since_never_moves_the_cursor_back(lhub, algolia, workers):
    algolia.hits = [hn_hit(31, T0, "Chorus first"), hn_hit(32, T0 + 10, "Chorus newest")]
    poll(lhub)
    workers.drain()
    # the newest story is gone from the index; an older one appears to a backfill of two days
    algolia.hits = [hn_hit(30, T0 - 86400, "Chorus older"), hn_hit(31, T0, "Chorus first")]
    backfill = poll(lhub, since=NOW - timedelta(days=2))
    assert sorted(i["objectID"] for i in backfill.feeds[0].items) == ["30", "31"]  # older items too
    assert lhub.store.get_cursor("hn-brand", "Chorus").position == str(T0 + 10)  # max(old, new)
    workers.drain()
    stored = lhub.store.connector_interactions("hn-brand", 50)
    assert sorted(i.external_id for i in stored) == ["30", "31", "32"]  # 31 found twice: one
    algolia.calls.clear()
    assert poll(lhub).found == 0 and algolia.calls[0]["numericFilters"].startswith(f"created_at_i>{T0 + 10},")


def test_a_listener_connector_takes_no_webhooks(lhub, client):
    response = client.http.post(
        "/webhooks/hn-brand", body=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 405


@pytest.mark.moto  # the CLI finds lhub (and its fixed clock) through the AWS environment
def test_chorus_poll_prints_what_it_found(lhub, algolia, capsys):
    from chalicelib.cli import main

    algolia.hits = [hn_hit(51, T0, "Chorus helps us listen")]
    assert main(["poll", "hn-brand", "--since", "2d"]) == 0
    out = capsys.readouterr().out
    assert "https://news.ycombinator.com/item?id=51" in out and "Chorus helps us listen" in out
    assert "hn-brand [Chorus]: 1 found and queued, 1 call(s), done" in out
    assert algolia.calls[0]["numericFilters"].startswith(f"created_at_i>{int(NOW.timestamp()) - 2 * 86400},")
    assert main(["poll", "hn-brand", "--since", "yesterday"]) == 2
    assert main(["poll", "youtube-creators"]) == 1


class BudgetClock:
    """The clock the runner's API budget (blocks, windows) reads: wall time plus `offset`, so a
    test can step past a back-off."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self) -> float:
        import time

        return time.time() + self.offset

    def step(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def later(monkeypatch):
    from chalicelib.pipeline import poll as module
    from chalicelib.sync.budget import ApiBudget

    clock = BudgetClock()
    monkeypatch.setattr(module, "ApiBudget", lambda store: ApiBudget(store, clock=clock))
    return clock


class Outage:
    """An API in trouble in front of `fake`: each call times out (`kind` "timeout") or answers
    that 5xx status, until `kind` is None; `calls` counts every call, answered or not."""

    def __init__(self, kind, fake=None):
        self.kind, self.fake, self.calls = kind, fake, 0

    def __call__(self, request):
        import requests

        self.calls += 1
        if self.kind is None:
            return self.fake(request)
        if self.kind == "timeout":
            raise requests.ReadTimeout("read timed out")
        return self.kind, {"Content-Type": "text/html"}, "<html>upstream trouble</html>"


@pytest.mark.parametrize("kind", ["timeout", 500, 502, 503, 504])
def test_an_outage_backs_off_that_source_alone_and_the_run_after_picks_the_items_up(lhub, later, kind):
    from chalicelib.pipeline.poll import run_due_pollers
    from chalicelib.sync.budget import budget_key

    lhub.ingest_queue = CapturingQueue()
    hits = [hn_hit(61, T0, "Chorus during the outage"), hn_hit(62, T0 + 5, "Chorus again")]
    down = Outage(kind, FakeAlgolia(hits=hits))
    other = FakeAlgolia(hits=[hn_hit(63, T0, "Acme and Chorus")])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, "https://hn.test/api/v1/search_by_date", callback=down)
        mock.add_callback(responses.GET, "https://hn-mirror.test/api/v1/search_by_date", callback=other)
        outcomes = {o.connector_id: o for o in run_due_pollers(lhub, NOW)}
        [failed] = outcomes["hn-brand"].feeds
        expected = "ReadTimeout" if kind == "timeout" else f"HTTP {kind}"
        assert failed.error.startswith(expected) and failed.found == 0 and not failed.finished
        assert outcomes["hn-other"].found == 2  # the same run, both its queries, undelayed
        cursor = lhub.store.get_cursor("hn-brand", "Chorus")
        assert cursor.position is None and cursor.resume is None  # nothing skipped
        assert cursor.failures == 1 and cursor.last_error.startswith(expected) and cursor.last_ok_at is None
        # the first failure backs off about a minute (60 s, jittered down to 48 s), this source alone
        key = f"{budget_key(lhub.connectors.get('hn-brand'))}:"
        assert 40 <= lhub.store.budget_blocked_until(key) - later() <= 60
        calls = down.calls
        held = poll(lhub)
        assert held.feeds[0].throttled and down.calls == calls and held.feeds[0].error is None
        assert poll(lhub, "hn-other").calls == 2  # not blocked by the other's outage
        assert lhub.store.get_cursor("hn-brand", "Chorus").failures == 1  # a held run is no failure
        # the API is back; the next run after the back-off finds what the outage hid
        later.step(61)
        down.kind = None
        back = poll(lhub)
    assert sorted(i["objectID"] for i in back.feeds[0].items) == ["61", "62"] and back.feeds[0].finished
    cursor = lhub.store.get_cursor("hn-brand", "Chorus")
    assert cursor.position == str(T0 + 5) and cursor.failures == 0 and cursor.last_error is None
    assert cursor.last_ok_at == NOW
    queued = [
        json.loads(base64.b64decode(m["body_b64"]))["item"]["objectID"] for m in lhub.ingest_queue.messages
    ]
    assert sorted(i for i in queued if i in ("61", "62")) == ["61", "62"]  # each once


def test_failures_in_a_row_back_off_longer(lhub, later):
    from chalicelib.sync.budget import budget_key

    key = f"{budget_key(lhub.connectors.get('hn-brand'))}:"
    waits = []
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, "https://hn.test/api/v1/search_by_date", callback=Outage(503))
        for _ in range(3):
            before = later()
            assert poll(lhub).feeds[0].error.startswith("HTTP 503")
            waits.append(lhub.store.budget_blocked_until(key) - before)
            later.step(waits[-1] + 1)
    assert lhub.store.get_cursor("hn-brand", "Chorus").failures == 3
    # 1 minute doubling (jittered down by at most a fifth)
    assert 47 <= waits[0] <= 65 and 95 <= waits[1] <= 125 and 191 <= waits[2] <= 245


def test_admin_connectors_show_each_listeners_health(lhub, later, client, admin_headers):
    chorus = FakeAlgolia(hits=[hn_hit(71, T0, "Chorus keeps listening")])
    acme = Outage(503, FakeAlgolia(hits=[hn_hit(72, T0, "Acme is back")]))

    def mirror(request):
        return acme(request) if "query=Acme" in request.url else chorus(request)

    def listed():
        response = client.http.get("/admin/connectors?limit=500", headers=admin_headers)
        assert response.status_code == 200
        return {c["id"]: c for c in json.loads(response.body)["items"]}

    second = NOW + timedelta(minutes=15)
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, "https://hn-mirror.test/api/v1/search_by_date", callback=mirror)
        poll(lhub, "hn-other")
        later.step(3600)
        lhub.clock = lambda: second
        poll(lhub, "hn-other")
        connectors = listed()
        health = connectors["hn-other"]["listener"]
        assert health["failures"] == 2 and health["last_error"].startswith("HTTP 503 from hn-mirror.test")
        assert health["last_ok_at"] is None  # one feed never finished a run
        assert {f["feed"]: f for f in health["feeds"]} == {
            "Chorus": {
                "feed": "Chorus",
                "last_run_at": second.isoformat(),
                "last_ok_at": second.isoformat(),
                "failures": 0,
                "last_error": None,
            },
            "Acme": {
                "feed": "Acme",
                "last_run_at": second.isoformat(),
                "last_ok_at": None,
                "failures": 2,
                "last_error": "HTTP 503 from hn-mirror.test",
            },
        }
        never = connectors["hn-brand"]["listener"]  # a listener never polled
        assert never["feeds"] == [
            {"feed": "Chorus", "last_run_at": None, "last_ok_at": None, "failures": 0, "last_error": None}
        ]
        assert never["last_ok_at"] is None and never["failures"] == 0
        assert connectors["slack-members"]["listener"] is None  # a webhook source has none
        # the API is back: the next run after the back-off clears the failures
        acme.kind = None
        later.step(3600)
        lhub.clock = lambda: second + timedelta(minutes=15)
        poll(lhub, "hn-other")
        health = listed()["hn-other"]["listener"]
    assert health["failures"] == 0 and health["last_error"] is None
    assert health["last_ok_at"] == (second + timedelta(minutes=15)).isoformat()
    assert all(f["failures"] == 0 and f["last_error"] is None for f in health["feeds"])
    options = lhub.connectors.get("reddit-brand").options
    options.search, options.subreddits = False, []  # a listener with nothing to poll is still one
    assert listed()["reddit-brand"]["listener"] == {
        "failures": 0,
        "last_error": None,
        "last_ok_at": None,
        "feeds": [],
    }


@pytest.mark.moto  # the CLI finds lhub (and its fixed clock) through the AWS environment
def test_chorus_poll_prints_each_feeds_health(lhub, later, capsys):
    from chalicelib.cli import main

    chorus = FakeAlgolia(hits=[hn_hit(81, T0, "Chorus all day")])
    acme = Outage("timeout")
    with responses.RequestsMock() as mock:
        mock.add_callback(
            responses.GET,
            "https://hn-mirror.test/api/v1/search_by_date",
            callback=lambda r: acme(r) if "query=Acme" in r.url else chorus(r),
        )
        assert main(["poll", "hn-other"]) == 1
        later.step(3600)
        assert main(["poll", "hn-other"]) == 1
    lines = capsys.readouterr().out.splitlines()
    failed = lines.index(
        "hn-other [Acme]: 0 found and queued, 1 call(s), error: ReadTimeout fetching hn-mirror.test"
    )
    assert lines[failed + 1] == (
        "  health: last ok never, 1 consecutive failure, last error: ReadTimeout fetching hn-mirror.test"
    )
    assert lines[-1] == (
        "  health: last ok never, 2 consecutive failures, last error: ReadTimeout fetching hn-mirror.test"
    )
    done = lines.index("hn-other [Chorus]: 1 found and queued, 1 call(s), done")
    assert lines[done + 1] == "  health: last ok 2026-11-30 12:00 UTC, 0 consecutive failures"


def test_a_feed_held_by_its_back_off_is_polled_when_it_ends_not_a_schedule_later(lhub, later):
    """A failed feed is due again once its back-off ends, and a feed its budget held before any
    call is due at the next run: neither waits out `every` (15 minutes here)."""
    from chalicelib.pipeline.poll import is_due, run_due_pollers
    from chalicelib.sync.budget import ApiBudget, budget_key

    connector = lhub.connectors.get("hn-brand")
    lhub.ingest_queue = CapturingQueue()
    down = Outage(503, FakeAlgolia(hits=[hn_hit(71, T0, "Chorus after the outage")]))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, "https://hn.test/api/v1/search_by_date", callback=down)
        mock.add_callback(
            responses.GET, "https://hn-mirror.test/api/v1/search_by_date", callback=FakeAlgolia()
        )
        run_due_pollers(lhub, NOW)
        assert lhub.store.get_cursor("hn-brand", "Chorus").failures == 1
        later.step(61)  # the back-off is over; `every` is not
        down.kind = None
        soon = NOW + timedelta(minutes=1)
        lhub.clock = lambda: soon
        assert is_due(lhub, connector, soon)
        again = {o.connector_id: o for o in run_due_pollers(lhub, soon)}
        assert [i["objectID"] for f in again["hn-brand"].feeds for i in f.items] == ["71"]
        assert not is_due(lhub, connector, soon + timedelta(minutes=1))  # fine again: on its schedule

        # its budget blocked (another worker's 429, say) before its next call: held, then due
        key = f"{budget_key(connector)}:"
        ApiBudget(lhub.store, clock=later).block(key, 30)
        due_at = soon + timedelta(minutes=15)
        lhub.clock = lambda: due_at
        held = {o.connector_id: o for o in run_due_pollers(lhub, due_at)}["hn-brand"]
        assert all(f.throttled and f.calls == 0 for f in held.feeds)
        assert is_due(lhub, connector, due_at + timedelta(minutes=1))
        later.step(31)
        calls = down.calls
        lhub.clock = lambda: due_at + timedelta(minutes=1)
        run_due_pollers(lhub, due_at + timedelta(minutes=1))
        assert down.calls > calls
