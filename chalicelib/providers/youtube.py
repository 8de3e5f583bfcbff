"""YouTube push notifications (WebSub / PubSubHubbub): new or updated videos of subscribed channels.

Subscribe at https://pubsubhubbub.appspot.com with hub.callback = /webhooks/{id} and
hub.topic = https://www.youtube.com/xml/feeds/videos.xml?channel_id=CHANNEL_ID (add hub.secret).
Handshake: GET ?hub.mode=subscribe|unsubscribe&hub.topic=..&hub.challenge=C&hub.lease_seconds=N
-> C as text/plain; refused when options.channel_id is set and hub.topic is another feed. An
unsubscribe is confirmed only when Chorus asked for it (404 otherwise, as WebSub requires), and
a confirmed subscription's lease is recorded so `renew_websub` (chalicelib/websub.py, run on a
schedule) re-subscribes before it lapses; renewal needs options.callback_url.
Signature (WebSub): `X-Hub-Signature: sha1=` + hex(HMAC-SHA1(hub.secret, raw body)), required
when the connector has secrets.signing. Body: Atom XML, parsed with defusedxml.
Deletions arrive as <at:deleted-entry ref="yt:video:ID" when="...">.
https://developers.google.com/youtube/v3/guides/push_notifications
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree.ElementTree import Element

from pydantic import BaseModel, ConfigDict, Field

from ..errors import HandshakeRejected, MalformedPayload
from ..schema import Author, Interaction
from .base import (
    XML_TYPES,
    Delivery,
    ParseContext,
    Skipped,
    SubscriptionIntent,
    WebResponse,
    parse_iso,
)
from .entries import guarded
from .signatures import sign, verify_hmac
from .source import SignedTestDelivery, Source

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "yt": "http://www.youtube.com/xml/schemas/2015",
    "at": "http://purl.org/atompub/tombstones/1.0",
}
FEED_URLS = (
    "https://www.youtube.com/xml/feeds/videos.xml?channel_id=",
    "https://www.youtube.com/feeds/videos.xml?channel_id=",
)


class YouTubeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel_id: str | None = Field(
        default=None, description="Only accept subscriptions (hub.topic) for this channel's feed."
    )
    callback_url: str | None = Field(
        default=None,
        pattern=r"^https://",
        description="This connector's public webhook URL (https://.../webhooks/<id>): set it and Chorus "
        "subscribes and renews the lease itself.",
    )
    hub_url: str = Field(default="https://pubsubhubbub.appspot.com/subscribe", pattern=r"^https?://")
    lease_seconds: int = Field(default=10 * 86400, gt=0, description="The lease Chorus asks for.")
    renew_before_seconds: int = Field(
        default=86400, gt=0, description="Renew when the lease ends sooner than this."
    )

    def topic(self) -> str:
        return FEED_URLS[0] + (self.channel_id or "")


def _xml(body: bytes) -> Element:
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    try:
        return ElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise MalformedPayload(
            f"body is not a safe, well-formed Atom document: {type(exc).__name__}"
        ) from None


class YouTubeProvider(Source):
    name = "youtube"
    object_key = "youtube:video"  # a video id names the video for every channel's subscriber
    Options = YouTubeOptions
    content_types = XML_TYPES
    handshake_methods = ("GET",)
    required_secrets = {}  # signing is optional: set it when you pass hub.secret

    def handshake(self, request, connector) -> WebResponse | None:
        query = request.query
        if query.get("hub.mode") not in ("subscribe", "unsubscribe") or not query.get("hub.challenge"):
            raise HandshakeRejected("GET needs hub.mode=subscribe|unsubscribe and a hub.challenge")
        channel = connector.options.channel_id
        if channel and query.get("hub.topic") not in tuple(url + channel for url in FEED_URLS):
            raise HandshakeRejected("hub.topic is not the configured channel's feed")
        lease = query.get("hub.lease_seconds", "")
        intent = SubscriptionIntent(
            mode=query["hub.mode"],
            topic=query.get("hub.topic", ""),
            lease_seconds=int(lease) if lease.isdigit() else None,
        )
        return WebResponse(200, query["hub.challenge"], confirms=intent)

    def verify(self, request, connector, now) -> None:
        if connector.has_secret("signing"):
            verify_hmac(
                request.header("x-hub-signature"),
                key=connector.secret("signing"),
                message=request.body,
                algorithm="sha1",
                prefix="sha1=",
            )

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        headers = {"content-type": "application/atom+xml"}
        if connector.has_secret("signing"):
            headers["x-hub-signature"] = sign(
                connector.secret("signing"), body, algorithm="sha1", prefix="sha1="
            )
        return SignedTestDelivery(headers)

    def check_body(self, request) -> None:
        _xml(request.body)

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        feed = _xml(delivery.body)
        connector = delivery.connector
        results: list[Interaction | Skipped] = [
            guarded(lambda e: self._video(e, connector), entry) for entry in feed.findall("atom:entry", NS)
        ]
        results += [
            guarded(lambda e: self._deletion(e, connector), entry)
            for entry in feed.findall("at:deleted-entry", NS)
        ]
        return results or [Skipped("unsupported_event", "feed without entries")]

    def _video(self, entry: Element, connector) -> Interaction:
        video_id = _text(entry, "yt:videoId")
        channel_id = _text(entry, "yt:channelId")
        updated = _text(entry, "atom:updated")
        link = entry.find("atom:link[@rel='alternate']", NS)
        return self.interaction(
            connector,
            video_id,
            kind="post",
            event_id=f"{video_id}:{updated}",
            event_type="video",
            occurred_at=parse_iso(_text(entry, "atom:published")),
            updated_at=parse_iso(updated),
            text=entry.findtext("atom:title", None, NS),
            url=link.get("href") if link is not None else f"https://www.youtube.com/watch?v={video_id}",
            author=Author(
                provider_user_id=channel_id, display_name=entry.findtext("atom:author/atom:name", None, NS)
            ),
            thread_id=video_id,
            public=True,
        )

    def _deletion(self, entry: Element, connector) -> Interaction:
        ref, when = entry.attrib["ref"], entry.attrib["when"]
        video_id = ref.rsplit(":", 1)[-1]
        channel_uri = entry.findtext("at:by/atom:uri", "", NS)
        channel_id = channel_uri.rstrip("/").rsplit("/", 1)[-1] if "/channel/" in channel_uri else None
        return self.interaction(
            connector,
            video_id,
            kind="post",
            event_id=f"{video_id}:deleted:{when}",
            event_type="video_deleted",
            occurred_at=parse_iso(when),
            updated_at=parse_iso(when),
            author=Author(provider_user_id=channel_id),
            thread_id=video_id,
            deleted=True,
            public=True,
        )


def _text(entry: Element, path: str) -> str:
    value = entry.findtext(path, None, NS)
    if not value or not value.strip():
        raise ValueError(f"entry has no {path}")
    return value.strip()
