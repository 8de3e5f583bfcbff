"""YouTube comment threads (shaped after the Data API's documented commentThread and comment
resources) through the listener, the queue, the worker and the store, against a fake that
applies commentThreads.list's documented semantics: newest first (order=time), maxResults up to
100, pageToken, replies only with part=replies, an API key, and a day's quota of units."""

from __future__ import annotations

import copy
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from tests.support.listener_fakes import NOW, assert_paging_cost, poll
from tests.support.senders import SECRETS, fixture_bytes

URL = "https://youtube.test/youtube/v3/commentThreads"
CHANNEL = "UCq8chorusBrandChannel01"
DOCUMENTED = json.loads(fixture_bytes("youtube_comments/comment_threads.json"))


def thread(n: int, published: str, text: str) -> dict:
    """A commentThread shaped like the documented fixture's first, without replies."""
    item = copy.deepcopy(DOCUMENTED["items"][1])
    item["id"] = item["snippet"]["topLevelComment"]["id"] = f"Ugz{n:08d}AaABAg"
    top = item["snippet"]["topLevelComment"]["snippet"]
    top.update(textOriginal=text, textDisplay=text, publishedAt=published, updatedAt=published)
    return item


class FakeYouTube:
    def __init__(self, threads):
        self.threads = threads
        self.calls: list[dict] = []
        self.units = 0
        self.quota = 10_000
        self.answer: tuple[int, dict, str] | None = None
        self.mock: responses.RequestsMock | None = None

    def __call__(self, request):
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.calls.append(params)
        self.units += 1  # every call costs its unit, answered or not
        if self.answer is not None:
            return self.answer
        if params.get("key") != SECRETS["TEST_YOUTUBE_API_KEY"]:
            return 400, {}, json.dumps({"error": {"code": 400, "errors": [{"reason": "keyInvalid"}]}})
        if self.units > self.quota:
            error = {"code": 403, "errors": [{"domain": "youtube.quota", "reason": "quotaExceeded"}]}
            return 403, {}, json.dumps({"error": error})
        found = [
            t for t in self.threads if t["snippet"]["channelId"] == params["allThreadsRelatedToChannelId"]
        ]
        assert params["order"] == "time"
        found.sort(key=lambda t: t["snippet"]["topLevelComment"]["snippet"]["publishedAt"], reverse=True)
        size, start = min(int(params.get("maxResults", 20)), 100), int(params.get("pageToken", 0))
        page = copy.deepcopy(found[start : start + size])
        if "replies" not in params["part"].split(","):
            for item in page:
                item.pop("replies", None)
        body = {
            "kind": "youtube#commentThreadListResponse",
            "pageInfo": {"totalResults": len(found), "resultsPerPage": size},
            "items": page,
        }
        if start + size < len(found):
            body["nextPageToken"] = str(start + size)
        return 200, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(body)


@pytest.fixture
def youtube():
    fake = FakeYouTube(copy.deepcopy(DOCUMENTED["items"]))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, URL, callback=fake)
        fake.mock = mock  # other sources' fakes join the same mock
        yield fake


def test_threads_and_their_replies_become_comments_of_the_channel_authors(lhub, youtube, workers):
    from chalicelib.pipeline.identity import _namespace

    outcome = poll(lhub, "youtube-brand")
    assert outcome.found == 2 and outcome.calls == 1
    workers.drain()
    stored = {i.external_id: i for i in lhub.store.connector_interactions("youtube-brand", 10)}
    top, reply = stored["UgzN7qLrBvT2kXw9YpF4AaABAg"], stored["UgzN7qLrBvT2kXw9YpF4AaABAg.9zX1Yq2Rt3U"]
    assert set(stored) == {top.external_id, reply.external_id, "UgyR2mTqK8vX1wZ7bNc4AaABAg"}
    assert top.kind == reply.kind == "comment" and top.public
    assert top.url == "https://www.youtube.com/watch?v=dQ7kChorus01&lc=UgzN7qLrBvT2kXw9YpF4AaABAg"
    assert top.key == "youtube:comment:UgzN7qLrBvT2kXw9YpF4AaABAg"
    assert reply.parent_id == top.external_id and reply.thread_id == top.thread_id == "dQ7kChorus01"
    assert top.text.startswith("This Chorus walkthrough") and top.author.display_name == "@mayabuilds"
    # every comment counts, brand named or not: the channel is the brand's own
    assert stored["UgyR2mTqK8vX1wZ7bNc4AaABAg"].brand_matches == []
    person = lhub.store.get_person(top.person_id)
    # the WebSub provider's namespace: this commenter and a video author of that channel link
    assert _namespace("youtube_comments") == _namespace("youtube") == "youtube"
    assert {r.key for r in person.identities} == {"youtube#UCm4yaBuildsChannel0001"}
    assert SECRETS["TEST_YOUTUBE_API_KEY"] not in json.dumps(
        [i.model_dump(mode="json") for i in stored.values()]
    )


def test_the_next_poll_stops_at_the_cursor_and_an_empty_one_costs_one_call(lhub, youtube):
    youtube.threads.append(thread(9, "2026-11-30T09:00:00Z", "An older one"))
    poll(lhub, "youtube-brand")
    youtube.calls.clear()
    assert poll(lhub, "youtube-brand").found == 0 and len(youtube.calls) == 1
    youtube.calls.clear()
    lhub.connectors.get("youtube-brand").options.page_size = 1
    poll(lhub, "youtube-brand")
    assert len(youtube.calls) == 2  # a page of the mark's own second, then an older item: done
    lhub.connectors.get("youtube-brand").options.page_size = 100
    youtube.threads.append(thread(1, "2026-11-30T11:50:00Z", "A new Chorus question"))
    again = poll(lhub, "youtube-brand")
    assert [t["id"] for t in again.feeds[0].items] == ["Ugz00000001AaABAg"]
    # a comment of the cursor's very second that arrives late is still found, even a page behind
    # the one already queued (one second's comments come in no set order)
    youtube.threads.append(thread(2, "2026-11-30T11:50:00Z", "Same second"))
    lhub.connectors.get("youtube-brand").options.page_size = 1
    assert [t["id"] for t in poll(lhub, "youtube-brand").feeds[0].items] == ["Ugz00000002AaABAg"]


@pytest.mark.parametrize("n", [0, 1, 5, 6, 7])
def test_n_new_threads_cost_at_most_ceil_n_over_page_size_plus_one_units(lhub, youtube, n):
    lhub.connectors.get("youtube-brand").options.page_size = 3
    youtube.threads = [thread(i, f"2026-11-30T11:{i:02d}:00Z", f"note {i}") for i in range(n)]
    assert_paging_cost(poll(lhub, "youtube-brand"), youtube.units, n, 3)


def test_a_429_backs_off_youtube_alone_honouring_retry_after(lhub, youtube):
    from chalicelib.pipeline.poll import run_due_pollers
    from tests.support.listener_fakes import FakeAlgolia

    youtube.mock.add_callback(responses.GET, "https://hn.test/api/v1/search_by_date", callback=FakeAlgolia())
    youtube.answer = (429, {"Retry-After": "300"}, "")
    outcomes = {o.connector_id: o for o in run_due_pollers(lhub, NOW)}
    assert outcomes["youtube-brand"].feeds[0].error.startswith("HTTP 429")
    assert outcomes["hn-brand"].feeds[0].error is None  # polled in the same run
    cursor = lhub.store.get_cursor("youtube-brand", f"channel:{CHANNEL}")
    assert cursor.failures == 1 and cursor.position is None
    calls = len(youtube.calls)
    assert poll(lhub, "youtube-brand").feeds[0].throttled and len(youtube.calls) == calls
    assert poll(lhub, "hn-brand").calls == 1  # the other source is not blocked


def test_a_spent_daily_quota_waits_for_midnight_pacific(lhub, youtube):
    from chalicelib.sync.budget import ApiBudget, budget_key

    youtube.quota = 0
    outcome = poll(lhub, "youtube-brand")
    assert "HTTP 403" in outcome.feeds[0].error
    key = f"{budget_key(lhub.connectors.get('youtube-brand'))}:"
    wait = ApiBudget(lhub.store).acquire(key, 10_000, 86_400.0)
    assert 60 <= wait <= 24 * 3600  # blocked until the quota resets, not retried each run
    assert poll(lhub, "youtube-brand").feeds[0].throttled and youtube.units == 1


def test_a_malformed_answer_is_a_recorded_failure(lhub, youtube):
    youtube.answer = (200, {"Content-Type": "application/json"}, json.dumps({"items": [{"id": "x"}]}))
    outcome = poll(lhub, "youtube-brand")
    cursor = lhub.store.get_cursor("youtube-brand", f"channel:{CHANNEL}")
    assert outcome.feeds[0].error and cursor.failures == 1 and cursor.position is None
    assert lhub.store.event_counts("youtube-brand")["poll_failed"] == 1


def test_an_edited_comment_fetched_again_updates_its_one_interaction(lhub, youtube, workers):
    poll(lhub, "youtube-brand")
    workers.drain()
    edited = youtube.threads[1]["snippet"]["topLevelComment"]["snippet"]
    edited.update(textOriginal="Does the HubSpot sync handle merged contacts? Found it, yes.")
    edited["updatedAt"] = "2026-11-30T11:58:00Z"
    poll(lhub, "youtube-brand", since=NOW.replace(hour=0))
    workers.drain()
    stored = [
        i for i in lhub.store.connector_interactions("youtube-brand", 10) if i.external_id.startswith("UgyR")
    ]
    assert len(stored) == 1 and stored[0].text.endswith("Found it, yes.")
