"""Mastodon: public posts on one instance, by hashtag timeline or (with a token) by search.

`GET {base_url}/api/v1/timelines/tag/{tag}?min_id=M&limit=40` needs no token where the
instance allows public timelines; `GET {base_url}/api/v2/search?q=TERM&type=statuses&min_id=M`
needs a user token (`secrets.access_token`). `min_id` returns the page immediately newer than
the cursor, so a run walks forward page by page and every finished page is safe to commit.
Mastodon ids are time-ordered (milliseconds << 16), so a first run or `--since` starts from an
id made from a time. Reposts (boosts) are not the booster's words and are skipped.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from ..schema import Author
from .base import Delivery, ParseContext, Skipped, parse_iso
from .entries import html_to_text
from .listener import Listener, Page, PollRequest, fetch_json, rate_limit_pause
from .permalink import canonical_permalink

PAGE_MAX = 40  # the API's maximum `limit` for timelines and search
PUBLIC_VISIBILITY = ("public", "unlisted")


class MastodonOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(description="The instance, e.g. https://mastodon.social")
    hashtags: list[str] = Field(
        default_factory=list, description="Hashtag timelines to follow (default: the brand terms)."
    )
    lookback_hours: int = Field(default=24, gt=0)
    page_size: int = Field(default=PAGE_MAX, ge=1, le=PAGE_MAX)


class MastodonProvider(Listener):
    name = "mastodon"
    Options = MastodonOptions
    page_size = PAGE_MAX
    # Mastodon's default: 300 requests per 5 minutes per account (or per IP without a token)
    poll_rate_limit = (300, 300.0)

    def feeds(self, connector, terms: list[str]) -> list[str]:
        if connector.has_secret("access_token"):
            return list(dict.fromkeys(terms))  # full-text search of statuses
        tags = connector.options.hashtags or terms
        return list(dict.fromkeys("#" + "".join(t.lstrip("#").split()).lower() for t in tags))

    def fetch_page(self, request: PollRequest) -> Page:
        options: MastodonOptions = request.connector.options
        base = options.base_url.rstrip("/")
        min_id = request.page or (
            _id_at(request.since)
            if request.since
            else request.position or _id_at(request.now - timedelta(hours=options.lookback_hours))
        )
        headers = {}
        if request.feed.startswith("#"):
            url = f"{base}/api/v1/timelines/tag/{quote(request.feed[1:])}"
            params: dict[str, object] = {"min_id": min_id, "limit": options.page_size}
        else:
            url = f"{base}/api/v2/search"
            params = {"q": request.feed, "type": "statuses", "min_id": min_id, "limit": options.page_size}
            headers["Authorization"] = f"Bearer {request.connector.secret('access_token')}"
        response, body = fetch_json(
            request.http,
            url,
            params=params,
            headers=headers,
            expect=list if request.feed.startswith("#") else dict,
        )
        statuses = body if isinstance(body, list) else body.get("statuses") or []
        statuses = [s for s in statuses if isinstance(s, dict) and s.get("id")]
        newest = max((int(s["id"]) for s in statuses), default=int(min_id))
        # a backfill (--since) pages from its start but never moves the cursor back
        position = max(newest, int(request.position or 0))
        page = Page(items=statuses, position=str(position), url=url, pause_seconds=rate_limit_pause(response))
        if len(statuses) >= options.page_size:
            page.next_page = str(newest)
        return page

    def parse(self, delivery: Delivery, ctx: ParseContext):
        _, status = self.found_item(delivery)
        if status.get("reblog"):
            return [Skipped("repost", "a boost carries someone else's words", str(status["id"]))]
        instance = urlsplit(delivery.connector.options.base_url).netloc.lower()
        account = status.get("account") or {}
        acct = str(account.get("acct") or account.get("username") or "")
        acct = acct if "@" in acct else f"{acct}@{instance}"
        uri = str(status.get("uri") or status.get("url") or status["id"])
        edited = status.get("edited_at")
        return [
            self.interaction(
                delivery.connector,
                uri,
                kind="comment" if status.get("in_reply_to_id") else "post",
                # the ActivityPub id names the post on every instance
                key=canonical_permalink(uri) or uri,
                event_id=f"{uri}:{edited or status.get('created_at')}",
                event_type="status",
                occurred_at=parse_iso(status["created_at"]),
                updated_at=parse_iso(edited) if edited else None,
                text=html_to_text(status.get("content")),
                url=status.get("url") or uri,
                author=Author(
                    provider_user_id=acct.lower() if acct != f"@{instance}" else None,
                    display_name=account.get("display_name") or None,
                    followers=account.get("followers_count")
                    if isinstance(account.get("followers_count"), int)
                    else None,
                ),
                language=status.get("language"),
                parent_id=str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None,
                public=status.get("visibility") in PUBLIC_VISIBILITY,
            )
        ]


def _id_at(moment: datetime) -> str:
    """The smallest Mastodon id of a moment: milliseconds since the epoch, shifted 16 bits."""
    return str(int(moment.timestamp() * 1000) << 16)
