"""YouTube comments: comment threads on the brand's channel and its videos (YouTube Data API v3).

`GET {base_url}/commentThreads?part=snippet,replies&allThreadsRelatedToChannelId=C&order=time
&maxResults=100&pageToken=T&key=API_KEY`, newest first. Each call costs 1 quota unit of the
project's 10,000 a day (the budget counts them); a spent quota answers 403 `quotaExceeded` and
this source waits for midnight Pacific Time, when YouTube resets it. The cursor is the newest
top-level comment queued (its time and the ids of that second); a run pages back until it
reaches it. Replies the thread carries (`replies.comments`, a subset) are queued with it.
Authors are `youtube:<channel id>`, as the WebSub provider names video authors.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from ..schema import Author
from .base import Delivery, ParseContext, parse_iso
from .entries import each_entry
from .listener import Listener, Listing, Page, PollRequest, fetch_json, newest_first_page

PAGE_MAX = 100  # commentThreads.list maxResults: 1 to 100
QUOTA_REASONS = ("quotaExceeded", "dailyLimitExceeded")
PACIFIC = ZoneInfo("America/Los_Angeles")
WATCH_URL = "https://www.youtube.com/watch?v={video}&lc={comment}"


class YouTubeCommentsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = "https://www.googleapis.com/youtube/v3"
    channel_id: str = Field(
        description="The brand's channel (UC...): its videos' and its own comment threads."
    )
    replies: bool = Field(default=True, description="Also queue the replies a thread carries.")
    lookback_hours: int = Field(default=24, gt=0, description="How far back the first run looks.")
    page_size: int = Field(default=PAGE_MAX, ge=1, le=PAGE_MAX)


class YouTubeCommentsProvider(Listener):
    name = "youtube_comments"
    identity_namespace = "youtube"  # the WebSub provider's: a commenter and an uploader link
    Options = YouTubeCommentsOptions
    required_secrets = {"api_key": "source"}
    open_web = False  # comments on the brand's own videos: every one counts, named or not
    page_size = PAGE_MAX
    # the default quota: 10,000 units a day per project, 1 unit per commentThreads.list call
    poll_rate_limit = (10_000, 86_400.0)

    def feeds(self, connector, terms: list[str]) -> list[str]:
        return [f"channel:{connector.options.channel_id}"]

    def fetch_page(self, request: PollRequest) -> Page:
        options: YouTubeCommentsOptions = request.connector.options
        return newest_first_page(
            request,
            timedelta(hours=options.lookback_hours),
            _stamp,
            lambda token: self._threads(request, token),
        )

    def _threads(self, request: PollRequest, token: str | None) -> Listing:
        options: YouTubeCommentsOptions = request.connector.options
        params: dict[str, Any] = {
            "part": "snippet,replies" if options.replies else "snippet",
            "allThreadsRelatedToChannelId": options.channel_id,
            "order": "time",
            "maxResults": options.page_size,
            "textFormat": "plainText",
            "key": request.connector.secret("api_key"),
        }
        if token:
            params["pageToken"] = token
        url = f"{options.base_url.rstrip('/')}/commentThreads"
        _, body = fetch_json(request.http, url, params=params, throttled=_quota_spent)
        threads = [t for t in body.get("items") or [] if isinstance(t, dict) and t.get("id")]
        return Listing(threads, body.get("nextPageToken"), url)

    def parse(self, delivery: Delivery, ctx: ParseContext):
        _, thread = self.found_item(delivery)
        snippet = thread["snippet"]
        top = snippet["topLevelComment"]
        public = snippet.get("isPublic") is not False
        yield self._comment(delivery, top, snippet, public)
        replies = (thread.get("replies") or {}).get("comments")
        yield from each_entry(lambda reply: self._comment(delivery, reply, snippet, public), replies)

    def _comment(self, delivery: Delivery, comment: dict[str, Any], thread: dict[str, Any], public: bool):
        snippet = comment["snippet"]
        comment_id = str(comment["id"])
        video = snippet.get("videoId") or thread.get("videoId")
        updated = snippet.get("updatedAt") or snippet["publishedAt"]
        channel = (snippet.get("authorChannelId") or {}).get("value")
        return self.interaction(
            delivery.connector,
            comment_id,
            kind="comment",
            key=f"youtube:comment:{comment_id}",
            event_id=f"{comment_id}:{updated}",  # an edit comes back with a new updatedAt
            event_type="comment",
            occurred_at=parse_iso(snippet["publishedAt"]),
            updated_at=parse_iso(updated),
            text=snippet.get("textOriginal") or snippet.get("textDisplay") or None,
            url=WATCH_URL.format(video=video, comment=comment_id)
            if video
            else snippet.get("authorChannelUrl"),
            author=Author(
                provider_user_id=channel or None, display_name=snippet.get("authorDisplayName") or None
            ),
            thread_id=str(video or thread.get("channelId") or comment_id),
            parent_id=str(snippet["parentId"]) if snippet.get("parentId") else None,
            public=public,
        )


def _stamp(thread: dict[str, Any]) -> tuple[float, str]:
    published = thread["snippet"]["topLevelComment"]["snippet"]["publishedAt"]
    return parse_iso(published).timestamp(), str(thread["id"])


def _quota_spent(response: Any) -> float | None:
    """Seconds to midnight Pacific Time when YouTube says the day's quota is spent (403)."""
    if response.status_code != 403:
        return None
    try:
        errors = response.json()["error"]["errors"]
        reasons = {e.get("reason") for e in errors if isinstance(e, dict)}
    except (ValueError, KeyError, TypeError):
        return None
    if not reasons & set(QUOTA_REASONS):
        return None
    now = datetime.now(PACIFIC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(60.0, (midnight - now).total_seconds())
