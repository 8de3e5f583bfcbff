"""App Store customer reviews (shaped after the App Store Connect API's documented example)
through the listener, the queue, the worker and the store. The fake checks the ES256 JWT with the
API key's public key as Apple does, answers newest first (sort=-createdDate), `limit` up to 200,
absolute `links.next`, and the `X-Rate-Limit` header of a rolling hour."""

from __future__ import annotations

import base64
import copy
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from tests.support.listener_fakes import NOW, assert_paging_cost, poll
from tests.support.senders import SECRETS, fixture_bytes

API = "https://appstoreconnect.test/v1/apps/682658836/customerReviews"
DOCUMENTED = json.loads(fixture_bytes("app_store_reviews/customer_reviews.json"))


def review(n: int, created: str, body: str, rating: int = 4) -> dict:
    item = copy.deepcopy(DOCUMENTED["data"][0])
    item["id"] = f"00000028-b08c-0014-729e-{n:012d}"
    item["attributes"].update(createdDate=created, body=body, title=f"Review {n}", rating=rating)
    return item


def b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class FakeAppStoreConnect:
    def __init__(self):
        self.reviews = copy.deepcopy(DOCUMENTED["data"])
        self.calls: list[dict] = []
        self.remaining = 3499
        self.answer: tuple[int, dict, str] | None = None

    def authorised(self, request) -> bool:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        header, claims, signature = token.split(".")
        raw = b64url(signature)
        key = serialization.load_pem_private_key(SECRETS["TEST_APP_STORE_PRIVATE_KEY"].encode(), None)
        key.public_key().verify(  # JWS ES256: r || s, 32 bytes each
            encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
            f"{header}.{claims}".encode(),
            ec.ECDSA(hashes.SHA256()),
        )
        head, body = json.loads(b64url(header)), json.loads(b64url(claims))
        return (
            scheme == "Bearer"
            and head == {"alg": "ES256", "kid": SECRETS["TEST_APP_STORE_KEY_ID"], "typ": "JWT"}
            and body["iss"] == SECRETS["TEST_APP_STORE_ISSUER_ID"]
            and body["aud"] == "appstoreconnect-v1"
            and 0 < body["exp"] - body["iat"] <= 20 * 60
        )

    def __call__(self, request):
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.calls.append(params)
        if self.answer is not None:
            return self.answer
        if not self.authorised(request):
            return 401, {}, json.dumps({"errors": [{"status": "401", "code": "NOT_AUTHORIZED"}]})
        assert params["sort"] == "-createdDate"
        from chalicelib.providers.base import parse_iso

        found = sorted(self.reviews, key=lambda r: parse_iso(r["attributes"]["createdDate"]), reverse=True)
        if "filter[territory]" in params:
            found = [
                r for r in found if r["attributes"]["territory"] in params["filter[territory]"].split(",")
            ]
        size, start = min(int(params.get("limit", 50)), 200), int(params.get("cursor", 0))
        body: dict = {
            "data": found[start : start + size],
            "links": {"self": request.url},
            "meta": {"paging": {"total": len(found), "limit": size}},
        }
        if start + size < len(found):
            body["links"]["next"] = f"{API}?sort=-createdDate&limit={size}&cursor={start + size}"
        headers = {"X-Rate-Limit": f"user-hour-lim:3500;user-hour-rem:{self.remaining};"}
        return 200, headers, json.dumps(body)


@pytest.fixture
def connect():
    from chalicelib.providers import app_store_reviews

    app_store_reviews._tokens.clear()
    fake = FakeAppStoreConnect()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, API, callback=fake)
        fake.mock = mock
        yield fake


def test_reviews_become_rated_interactions_of_their_reviewers(lhub, connect, workers):
    assert poll(lhub, "app-store-ios").found == 2
    workers.drain()
    stored = {i.external_id: i for i in lhub.store.connector_interactions("app-store-ios", 10)}
    awesome = stored["00000028-b08c-0014-729e-fbd500000000"]
    assert (
        awesome.kind == "review"
        and awesome.public
        and awesome.rating.model_dump()
        == {
            "value": 5.0,
            "scale": 5.0,
            "label": None,
        }
    )
    assert (
        awesome.text
        == "Awesome!!!\n\nIt's a really fantastic app! Chorus keeps our whole team on the same page."
    )
    assert awesome.key == "app_store:review:00000028-b08c-0014-729e-fbd500000000"
    assert awesome.occurred_at.isoformat() == "2026-11-30T11:10:34+00:00"
    person = lhub.store.get_person(awesome.person_id)
    assert {r.key for r in person.identities} == {"app_store_handle#anne johnson"}


def test_the_cursor_stops_paging_at_what_was_queued(lhub, connect):
    connect.reviews.append(review(9, "2026-11-30T08:00:00Z", "An older one"))
    poll(lhub, "app-store-ios")
    connect.calls.clear()
    assert poll(lhub, "app-store-ios").found == 0 and len(connect.calls) == 1
    connect.calls.clear()
    lhub.connectors.get("app-store-ios").options.page_size = 1
    poll(lhub, "app-store-ios")
    assert len(connect.calls) == 2  # a page of the mark's own second, then an older item: done
    lhub.connectors.get("app-store-ios").options.page_size = 100
    connect.reviews.append(review(7, "2026-11-30T11:59:00Z", "Newest"))
    assert [r["id"] for r in poll(lhub, "app-store-ios").feeds[0].items] == [
        "00000028-b08c-0014-729e-000000000007"
    ]


@pytest.mark.parametrize("n", [0, 1, 5, 6, 7])
def test_n_new_reviews_cost_at_most_ceil_n_over_page_size_plus_one_calls(lhub, connect, n):
    lhub.connectors.get("app-store-ios").options.page_size = 3
    connect.reviews = [review(i, f"2026-11-30T11:{i:02d}:00Z", f"note {i}") for i in range(n)]
    assert_paging_cost(poll(lhub, "app-store-ios"), len(connect.calls), n, 3)


def test_a_review_fetched_twice_is_stored_once(lhub, connect, workers):
    poll(lhub, "app-store-ios")
    poll(lhub, "app-store-ios", since=NOW.replace(hour=0))  # overlapping window
    workers.drain()
    assert len(lhub.store.connector_interactions("app-store-ios", 10)) == 2


def test_the_stars_count_as_ratings_in_the_pulse(lhub, connect, workers):
    from chalicelib.pipeline.pulse import parse_query, pulse

    poll(lhub, "app-store-ios")
    workers.drain()
    day = NOW.date().isoformat()
    totals = pulse(lhub, parse_query({"from": day, "to": day}, NOW.date()))["totals"]
    assert totals["ratings"] == {"count": 2, "average_of_5": 3.5}  # (5 + 2) / 2 of 5


def test_a_spent_rolling_hour_pauses_app_store(lhub, connect):
    connect.remaining = 0
    assert poll(lhub, "app-store-ios").found == 2
    assert poll(lhub, "app-store-ios").feeds[0].throttled and len(connect.calls) == 1


def test_a_429_backs_off_app_store_alone(lhub, connect):
    from tests.support.listener_fakes import FakeAlgolia

    connect.mock.add_callback(responses.GET, "https://hn.test/api/v1/search_by_date", callback=FakeAlgolia())
    connect.answer = (429, {"Retry-After": "900"}, json.dumps({"errors": [{"code": "RATE_LIMIT_EXCEEDED"}]}))
    assert poll(lhub, "app-store-ios").feeds[0].error.startswith("HTTP 429")
    calls = len(connect.calls)
    assert poll(lhub, "app-store-ios").feeds[0].throttled and len(connect.calls) == calls
    assert poll(lhub, "hn-brand").calls == 1


def test_a_malformed_answer_is_a_recorded_failure(lhub, connect):
    connect.answer = (200, {}, json.dumps({"data": [{"id": "r1", "attributes": {"rating": 5}}]}))
    outcome = poll(lhub, "app-store-ios")
    assert outcome.feeds[0].error and lhub.store.event_counts("app-store-ios")["poll_failed"] == 1
    assert lhub.store.get_cursor("app-store-ios", "app:682658836").position is None
