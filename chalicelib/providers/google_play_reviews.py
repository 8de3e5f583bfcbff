"""Google Play reviews of an Android app (Google Play Developer API, Reply to Reviews).

A service account signs an RS256 JWT (`iss` its email, `scope` androidpublisher, `aud` the token
URL), exchanged at `https://oauth2.googleapis.com/token` for an access token, cached per
connector until it expires (providers/oauth.py). Then `GET {base_url}/applications/{package}/
reviews?maxResults=N&token=T`, the most recently created or modified first, pages chained by
`tokenPagination.nextPageToken`. The API returns only reviews with a comment, and only those of
the last week. An edited review comes back with a newer `lastModified` and updates the same
interaction. The cursor is the newest `lastModified` queued and the review ids of that second.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..schema import Author, Rating
from .base import Delivery, ParseContext, utc_from_epoch
from .listener import Listener, Listing, Page, PollRequest, fetch_json, newest_first_page
from .oauth import TokenRequest, get_token, sign_rs256

SCOPE = "https://www.googleapis.com/auth/androidpublisher"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_SECONDS = 3600  # Google's maximum lifetime of the assertion
PAGE_MAX = 100


class GooglePlayReviewsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = "https://androidpublisher.googleapis.com/androidpublisher/v3"
    token_url: str = "https://oauth2.googleapis.com/token"
    package_name: str = Field(description="The app's package name, e.g. com.example.app")
    lookback_hours: int = Field(
        default=7 * 24, gt=0, description="How far back the first run looks (the API keeps one week)."
    )
    page_size: int = Field(default=PAGE_MAX, ge=1, le=PAGE_MAX)


class GooglePlayReviewsProvider(Listener):
    name = "google_play_reviews"
    Options = GooglePlayReviewsOptions
    required_secrets = {"client_email": "source", "private_key": "source"}
    open_web = False  # reviews of the brand's own app: every one counts, named or not
    page_size = PAGE_MAX
    # Reply to Reviews quota: 200 GET requests an hour per app
    poll_rate_limit = (200, 3600.0)

    def feeds(self, connector, terms: list[str]) -> list[str]:
        return [f"app:{connector.options.package_name}"]

    def fetch_page(self, request: PollRequest) -> Page:
        options: GooglePlayReviewsOptions = request.connector.options
        return newest_first_page(
            request,
            timedelta(hours=options.lookback_hours),
            _stamp,
            lambda token: self._reviews(request, token),
        )

    def _reviews(self, request: PollRequest, token: str | None) -> Listing:
        options: GooglePlayReviewsOptions = request.connector.options
        params: dict[str, Any] = {"maxResults": options.page_size}
        if token:
            params["token"] = token
        url = f"{options.base_url.rstrip('/')}/applications/{options.package_name}/reviews"
        headers = {"Authorization": f"Bearer {self._access_token(request)}"}
        _, body = fetch_json(request.http, url, params=params, headers=headers)
        reviews = [r for r in body.get("reviews") or [] if isinstance(r, dict) and r.get("reviewId")]
        return Listing(reviews, (body.get("tokenPagination") or {}).get("nextPageToken"), url)

    def _access_token(self, request: PollRequest) -> str:
        connector, options = request.connector, request.connector.options

        def assertion() -> dict[str, str]:
            now = int(time.time())
            claims = {
                "iss": connector.secret("client_email"),
                "scope": SCOPE,
                "aud": options.token_url,
                "iat": now,
                "exp": now + ASSERTION_SECONDS,
            }
            return {"assertion": sign_rs256(claims, connector.secret("private_key"))}

        grant = TokenRequest(options.token_url, {"grant_type": JWT_BEARER}, signed=assertion)
        return get_token(connector.id, request.http, grant).access_token

    def parse(self, delivery: Delivery, ctx: ParseContext):
        _, review = self.found_item(delivery)
        review_id = str(review["reviewId"])
        comment = _user_comment(review)
        modified = utc_from_epoch(_modified(review))
        stars = comment.get("starRating")
        text = str(comment.get("text") or "")
        yield self.interaction(
            delivery.connector,
            review_id,
            kind="review",
            key=f"google_play:review:{review_id}",
            event_id=f"{review_id}:{_modified(review)}",  # an edit is a new event of the same review
            event_type="review",
            # the API gives the last change only: a review's first version is its occurred_at
            occurred_at=modified,
            updated_at=modified,
            # a review written with a title joins title and body with a tab
            text="\n\n".join(p.strip() for p in text.split("\t") if p.strip()) or None,
            # the author's name is not unique: shown, never an identity
            author=Author(display_name=review.get("authorName") or None),
            rating=Rating(value=float(stars), scale=5.0) if isinstance(stars, int) else None,
            thread_id=review_id,
            public=True,
        )


def _user_comment(review: dict[str, Any]) -> dict[str, Any]:
    """The reviewer's own entry (comments also hold the developer's replies)."""
    for entry in review.get("comments") or []:
        if isinstance(entry, dict) and isinstance(entry.get("userComment"), dict):
            return entry["userComment"]
    raise KeyError("userComment")


def _stamp(review: dict[str, Any]) -> tuple[float, str]:
    return _modified(review), str(review["reviewId"])


def _modified(review: dict[str, Any]) -> float:
    stamp = _user_comment(review)["lastModified"]
    return int(stamp["seconds"]) + int(stamp.get("nanos") or 0) / 1e9
