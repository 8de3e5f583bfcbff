"""App Store reviews of an iOS app (App Store Connect API, `customerReviews`).

Each call carries a JWT signed ES256 with the team's API key (`kid` the key id, `iss` the issuer
id, `aud` appstoreconnect-v1, at most 20 minutes long; made once per process and reused until
near its end). `GET {base_url}/v1/apps/{id}/customerReviews?sort=-createdDate&limit=200`,
newest first, pages chained by the absolute `links.next`. Reviews carry no modification time in
this API, so a review is queued once. The cursor is the newest `createdDate` queued and the
ids of that second. Apple counts requests per API key in a rolling hour and reports it in
`X-Rate-Limit: user-hour-lim:N;user-hour-rem:M;`; a spent hour pauses this source.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..schema import Author, Rating
from .base import Delivery, ParseContext, parse_iso
from .listener import Listener, Listing, Page, PollRequest, fetch_json, newest_first_page
from .oauth import sign_es256

PAGE_MAX = 200  # customerReviews `limit`: at most 200
TOKEN_SECONDS = 15 * 60  # Apple refuses tokens that live longer than 20 minutes
AUDIENCE = "appstoreconnect-v1"
_tokens: dict[str, tuple[str, float]] = {}  # connector id -> (JWT, expires at): one per process
_tokens_lock = threading.Lock()


class AppStoreReviewsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = "https://api.appstoreconnect.apple.com"
    app_id: str = Field(description="The app's Apple ID (numeric, App Store Connect > App Information).")
    territories: list[str] = Field(
        default_factory=list, description="Only reviews from these territories (ISO alpha-3: USA, GBR)."
    )
    lookback_hours: int = Field(default=7 * 24, gt=0, description="How far back the first run looks.")
    page_size: int = Field(default=PAGE_MAX, ge=1, le=PAGE_MAX)


class AppStoreReviewsProvider(Listener):
    name = "app_store_reviews"
    identity_namespace = "app_store"
    Options = AppStoreReviewsOptions
    required_secrets = {"issuer_id": "source", "key_id": "source", "private_key": "source"}
    open_web = False  # reviews of the brand's own app: every one counts, named or not
    page_size = PAGE_MAX
    # Apple's documented example is 3,500 per hour per API key ("actual limits can vary")
    poll_rate_limit = (3000, 3600.0)

    def feeds(self, connector, terms: list[str]) -> list[str]:
        return [f"app:{connector.options.app_id}"]

    def fetch_page(self, request: PollRequest) -> Page:
        options: AppStoreReviewsOptions = request.connector.options
        return newest_first_page(
            request,
            timedelta(hours=options.lookback_hours),
            _stamp,
            lambda following: self._reviews(request, following),
        )

    def _reviews(self, request: PollRequest, following: str | None) -> Listing:
        options: AppStoreReviewsOptions = request.connector.options
        url = following or f"{options.base_url.rstrip('/')}/v1/apps/{options.app_id}/customerReviews"
        params: dict[str, Any] | None = None
        if not following:  # links.next carries the query itself
            params = {"sort": "-createdDate", "limit": options.page_size}
            if options.territories:
                params["filter[territory]"] = ",".join(options.territories)
        headers = {"Authorization": f"Bearer {self._token(request)}"}
        response, body = fetch_json(request.http, url, params=params, headers=headers)
        reviews = [
            r
            for r in body.get("data") or []
            if isinstance(r, dict) and r.get("id") and isinstance(r.get("attributes"), dict)
        ]
        following = (body.get("links") or {}).get("next")
        return Listing(reviews, following, url.split("?", 1)[0], _hour_spent(response))

    def _token(self, request: PollRequest) -> str:
        """The API key's JWT, signed once per process and reused until near its end."""
        connector = request.connector
        with _tokens_lock:
            cached = _tokens.get(connector.id)
            if cached and cached[1] > time.time() + 60:
                return cached[0]
            issued = int(time.time())
            claims = {
                "iss": connector.secret("issuer_id"),
                "iat": issued,
                "exp": issued + TOKEN_SECONDS,
                "aud": AUDIENCE,
            }
            token = sign_es256(claims, connector.secret("private_key"), connector.secret("key_id"))
            _tokens[connector.id] = (token, issued + TOKEN_SECONDS)
            return token

    def parse(self, delivery: Delivery, ctx: ParseContext):
        _, review = self.found_item(delivery)
        review_id = str(review["id"])
        attributes = review["attributes"]
        stars = attributes.get("rating")
        nickname = str(attributes.get("reviewerNickname") or "") or None
        yield self.interaction(
            delivery.connector,
            review_id,
            kind="review",
            key=f"app_store:review:{review_id}",
            event_id=review_id,
            event_type="review",
            occurred_at=parse_iso(attributes["createdDate"]),
            text="\n\n".join(p for p in (attributes.get("title"), attributes.get("body")) if p) or None,
            # the App Store nickname is the reviewer's public name on every review they write
            author=Author(handle=nickname, display_name=nickname),
            rating=Rating(value=float(stars), scale=5.0) if isinstance(stars, int) else None,
            public=True,
        )


def _stamp(review: dict[str, Any]) -> tuple[float, str]:
    return parse_iso(review["attributes"]["createdDate"]).timestamp(), str(review["id"])


def _hour_spent(response: Any) -> float | None:
    """A pause when `X-Rate-Limit` says no request is left in this rolling hour."""
    fields = dict(
        part.split(":", 1) for part in (response.headers.get("X-Rate-Limit") or "").split(";") if ":" in part
    )
    remaining = fields.get("user-hour-rem", "").strip()
    return 60.0 if remaining.isdigit() and int(remaining) == 0 else None
