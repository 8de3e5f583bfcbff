"""Google Play reviews (shaped after the Reply to Reviews API's documented answer) through the
listener, the queue, the worker and the store. The token endpoint checks the service account's
RS256 JWT with its public key as Google's does; the reviews fake answers newest created or
modified first, only the last week, `maxResults` and `token` paging."""

from __future__ import annotations

import base64
import copy
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from tests.support.listener_fakes import NOW, assert_paging_cost, poll
from tests.support.senders import SECRETS, fixture_bytes

API = "https://androidpublisher.test/androidpublisher/v3/applications/com.example.chorus/reviews"
TOKEN_URL = "https://oauth2.test/token"
DOCUMENTED = json.loads(fixture_bytes("google_play_reviews/reviews_list.json"))
FEED = "app:com.example.chorus"


def review(review_id: str, seconds: int, text: str, stars: int = 4) -> dict:
    item = copy.deepcopy(DOCUMENTED["reviews"][0])
    item["reviewId"] = review_id
    item["comments"][0]["userComment"].update(
        text=text, starRating=stars, lastModified={"seconds": str(seconds), "nanos": 0}
    )
    return item


def modified(item: dict) -> float:
    stamp = item["comments"][0]["userComment"]["lastModified"]
    return int(stamp["seconds"]) + stamp["nanos"] / 1e9


def b64url_json(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class FakeGoogle:
    def __init__(self):
        self.reviews = copy.deepcopy(DOCUMENTED["reviews"])
        self.calls: list[dict] = []
        self.tokens = 0
        self.answer: tuple[int, dict, str] | None = None

    def token(self, request):
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        header, claims, signature = form["assertion"].split(".")
        key = serialization.load_pem_private_key(SECRETS["TEST_PLAY_PRIVATE_KEY"].encode(), None)
        key.public_key().verify(  # raises InvalidSignature for a forged assertion
            base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
            f"{header}.{claims}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
        assert b64url_json(header) == {"alg": "RS256", "typ": "JWT"}
        body = b64url_json(claims)
        assert body["iss"] == SECRETS["TEST_PLAY_CLIENT_EMAIL"] and body["aud"] == TOKEN_URL
        assert body["scope"] == "https://www.googleapis.com/auth/androidpublisher"
        assert 0 < body["exp"] - body["iat"] <= 3600
        self.tokens += 1
        return (
            200,
            {},
            json.dumps({"access_token": "ya29.play-token", "expires_in": 3599, "token_type": "Bearer"}),
        )

    def list(self, request):
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.calls.append(params)
        if self.answer is not None:
            return self.answer
        if request.headers.get("Authorization") != "Bearer ya29.play-token":
            return 401, {}, json.dumps({"error": {"code": 401, "status": "UNAUTHENTICATED"}})
        week_ago = (NOW - timedelta(days=7)).timestamp()
        found = sorted((r for r in self.reviews if modified(r) >= week_ago), key=modified, reverse=True)
        size, start = int(params.get("maxResults", 10)), int(params.get("token", 0))
        body: dict = {"reviews": found[start : start + size], "pageInfo": {"totalResults": len(found)}}
        if start + size < len(found):
            body["tokenPagination"] = {"nextPageToken": str(start + size)}
        return 200, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(body)


@pytest.fixture
def play():
    from chalicelib.providers import oauth

    oauth.clear_cache()
    fake = FakeGoogle()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, TOKEN_URL, callback=fake.token)
        mock.add_callback(responses.GET, API, callback=fake.list)
        fake.mock = mock
        yield fake


def stored(lhub) -> dict:
    return {i.external_id: i for i in lhub.store.connector_interactions("play-android", 20)}


def test_reviews_become_rated_interactions_with_one_token(lhub, play, workers, monkeypatch):
    from chalicelib.providers import google_play_reviews

    signed = []
    sign = google_play_reviews.sign_rs256
    monkeypatch.setattr(google_play_reviews, "sign_rs256", lambda *a: signed.append(1) or sign(*a))
    assert poll(lhub, "play-android").found == 2
    assert poll(lhub, "play-android").found == 0 and play.tokens == 1  # the token is cached
    assert len(signed) == 1  # and the key is loaded only to fetch one
    workers.drain()
    best, slow = stored(lhub)["12345678"], stored(lhub)["11223344"]
    assert best.kind == "review" and best.key == "google_play:review:12345678" and best.public
    assert best.rating.value == 5 and best.rating.scale == 5  # 5 of 5, never 5 of 10
    assert best.author.display_name == "Jane Bloggs" and best.occurred_at.timestamp() == 1796035826.713
    assert slow.text == "Good but slow\n\nI love using this app, but the sync could be faster."
    assert slow.rating.value == 3 and best.brand_matches == ["Chorus"] and slow.brand_matches == []


def test_the_cursor_moves_past_what_was_queued_and_an_empty_poll_costs_one_call(lhub, play):
    play.reviews.append(review("99990009", int(NOW.timestamp()) - 7200, "An older one"))
    poll(lhub, "play-android")
    play.calls.clear()
    assert poll(lhub, "play-android").found == 0 and len(play.calls) == 1
    play.calls.clear()
    lhub.connectors.get("play-android").options.page_size = 1
    poll(lhub, "play-android")
    assert len(play.calls) == 2  # a page of the mark's own second, then an older item: done
    lhub.connectors.get("play-android").options.page_size = 100
    play.reviews.append(review("99990001", int(NOW.timestamp()) - 60, "New one"))
    assert [r["reviewId"] for r in poll(lhub, "play-android").feeds[0].items] == ["99990001"]


@pytest.mark.parametrize("n", [0, 1, 5, 6, 7])
def test_n_new_reviews_cost_at_most_ceil_n_over_page_size_plus_one_calls(lhub, play, n):
    lhub.connectors.get("play-android").options.page_size = 3
    play.reviews = [review(f"5000{i}", int(NOW.timestamp()) - 600 + i, f"note {i}") for i in range(n)]
    assert_paging_cost(poll(lhub, "play-android"), len(play.calls), n, 3)


def test_an_edited_review_updates_its_one_interaction(lhub, play, workers):
    poll(lhub, "play-android")
    workers.drain()
    edited = play.reviews[1]["comments"][0]["userComment"]
    edited.update(text="Fixed in 1.2.4, thanks!", starRating=5)
    edited["lastModified"] = {"seconds": str(int(NOW.timestamp()) - 30), "nanos": 0}
    assert [r["reviewId"] for r in poll(lhub, "play-android").feeds[0].items] == ["11223344"]
    workers.drain()
    [review_] = [
        i for i in lhub.store.connector_interactions("play-android", 20) if i.external_id == "11223344"
    ]
    assert review_.text == "Fixed in 1.2.4, thanks!" and review_.rating.value == 5


def test_the_stars_count_as_ratings_in_the_pulse(lhub, play, workers):
    from chalicelib.pipeline.pulse import parse_query, pulse

    poll(lhub, "play-android")
    workers.drain()
    day = NOW.date().isoformat()
    totals = pulse(lhub, parse_query({"from": day, "to": day}, NOW.date()))["totals"]
    assert totals["ratings"] == {"count": 2, "average_of_5": 4.0}  # (5 + 3) / 2 on the 5 scale


def test_a_429_backs_off_play_alone(lhub, play):
    from tests.support.listener_fakes import FakeAlgolia

    play.mock.add_callback(responses.GET, "https://hn.test/api/v1/search_by_date", callback=FakeAlgolia())
    play.answer = (429, {"Retry-After": "600"}, "")
    assert poll(lhub, "play-android").feeds[0].error.startswith("HTTP 429")
    calls = len(play.calls)
    assert poll(lhub, "play-android").feeds[0].throttled and len(play.calls) == calls
    assert poll(lhub, "hn-brand").calls == 1


def test_a_malformed_answer_and_a_refused_token_are_recorded_failures(lhub, play):
    play.answer = (200, {"Content-Type": "text/html"}, "<html>Oops</html>")
    assert "not JSON" in poll(lhub, "play-android").feeds[0].error
    play.mock.replace(responses.POST, TOKEN_URL, status=400, json={"error": "invalid_grant"})
    from chalicelib.providers import oauth

    oauth.clear_cache()
    outcome = poll(lhub, "play-android")
    assert "invalid_grant" in outcome.feeds[0].error and "ya29" not in outcome.feeds[0].error
    assert lhub.store.event_counts("play-android")["poll_failed"] == 2
