"""Meta Graph webhooks: Facebook Pages (`object: page`), Instagram (`object: instagram`) and
WhatsApp Business (`object: whatsapp_business_account`).

One module, three registered providers (`facebook`, `instagram`, `whatsapp`) so each platform's
user ids stay in their own identity namespace (a Page-scoped id is not an Instagram-scoped id).
A delivery whose `object` is another platform's is skipped with a reason naming the provider to
use, never crashed on. A change without the ids that name its object is a malformed entry.
Edits: a Page `edited` change is keyed on the notification's `entry.time` and the new text, so a
second and later edit of one comment is not taken for a retry of the first.
Handshake: GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C -> C as text/plain,
403 unless T equals secrets.verify_token (constant time).
Signature: `X-Hub-Signature-256: sha256=` + hex(HMAC-SHA256(app secret = secrets.signing, body)).
Body: {object, entry: [{id, time, changes: [{field, value}], messaging: [...]}]}, batched.
https://developers.facebook.com/docs/graph-api/webhooks/getting-started/
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import HandshakeRejected, MalformedPayload, UpstreamError
from ..schema import Author, Interaction, Rating
from .base import (
    Delivery,
    ParseContext,
    Skipped,
    WebResponse,
    parse_iso,
    utc_from_epoch,
)
from .entries import each_entry, guarded, guarded_all
from .listener import fetch_json
from .signatures import BodySignature, constant_time_equals
from .source import Source

FEED_ITEMS = {
    "comment": "comment",
    "post": "post",
    "status": "post",
    "photo": "post",
    "video": "post",
    "share": "post",
    "rating": "review",
}
STORED_VERBS = ("add", "edited", "remove")
# object -> the provider whose connector takes it: named when a delivery reaches the wrong one
OBJECT_PROVIDERS = {"page": "facebook", "instagram": "instagram", "whatsapp_business_account": "whatsapp"}


def _time(value: Any):
    """Meta sends unix seconds in feed changes, ISO strings in some fields."""
    return (
        utc_from_epoch(value) if isinstance(value, (int, float)) or str(value).isdigit() else parse_iso(value)
    )


class MetaProvider(Source):
    """Shared by Facebook and Instagram; subclasses name the `object` they accept."""

    name = "meta"
    object = ""
    handshake_methods = ("GET",)
    required_secrets = {"signing": "source", "verify_token": "source"}
    body_signature = BodySignature("x-hub-signature-256", prefix="sha256=")

    def handshake(self, request, connector) -> WebResponse | None:
        query = request.query
        if query.get("hub.mode") != "subscribe" or "hub.challenge" not in query:
            raise HandshakeRejected("GET needs hub.mode=subscribe and a hub.challenge")
        if not constant_time_equals(query.get("hub.verify_token", ""), connector.secret("verify_token")):
            raise HandshakeRejected("hub.verify_token does not match")
        return WebResponse(200, query["hub.challenge"])

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        data = delivery.json()
        if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
            raise MalformedPayload("a Meta delivery is an object with an entry array")
        if data.get("object") != self.object:
            owner = OBJECT_PROVIDERS.get(str(data.get("object")))
            hint = f"; a `{owner}` connector takes it" if owner else ""
            return [
                Skipped("unsupported_event", f"object {data.get('object')!r} is not {self.object!r}{hint}")
            ]
        results: list[Interaction | Skipped] = []
        for entry in data["entry"]:
            if not isinstance(entry, dict):
                results.append(Skipped("malformed_entry", "entry is not an object"))
                continue
            results += self._changes(entry, delivery.connector)
            results += each_entry(
                lambda m: self._message(m, entry, delivery.connector), entry.get("messaging")
            )
        return results

    def _changes(self, entry: dict, connector) -> list[Interaction | Skipped]:
        return each_entry(lambda c: self._change(c, entry, connector), entry.get("changes"))

    def _change(self, change: dict, entry: dict, connector) -> Any:
        """One entry.changes[] item, dispatched on its `field` through `events`."""
        field, value = change["field"], change["value"]
        handler = self.handler_for(field)
        if handler is None:
            return Skipped("unsupported_event", f"field {field}")
        return handler(field, value, entry, connector)

    def _message(self, event: dict, entry: dict, connector) -> Interaction | Skipped:
        """Messenger / Instagram Direct: entry.messaging[] {sender, recipient, timestamp, message}."""
        message = event.get("message")
        sender = str(event["sender"]["id"])
        if not isinstance(message, dict) or not message.get("mid"):
            return Skipped("unsupported_event", "messaging event without a message")
        if message.get("is_echo") or sender == str(entry["id"]):
            return Skipped("own_account", "message sent by the account itself", message["mid"])
        mid = str(message["mid"])
        return self.interaction(
            kind="direct_message",
            external_id=mid,
            event_id=f"{mid}:message",
            event_type="message",
            occurred_at=utc_from_epoch(event["timestamp"], "ms"),
            text=message.get("text"),
            author=Author(provider_user_id=sender),
            thread_id=sender,
            public=False,
            connector=connector,
        )


class FacebookProvider(MetaProvider):
    """Page fields `feed` (posts, comments, ratings on the Page), `ratings` and `mention`."""

    name = "facebook"
    object_key = "facebook"  # Graph ids (post, comment, message) are unique across Facebook
    object = "page"

    def _ratings(self, field: str, value: dict, entry: dict, connector) -> Interaction | Skipped:
        """`ratings` names no item: it is a rating."""
        return self._feed(field, {**value, "item": value.get("item") or "rating"}, entry, connector)

    def _mention(self, field: str, value: dict, entry: dict, connector) -> Interaction | Skipped:
        return self._feed(field, value, entry, connector, kind="mention")

    def _feed(
        self, field: str, value: dict, entry: dict, connector, kind: str | None = None
    ) -> Interaction | Skipped:
        item, verb = value.get("item"), value.get("verb", "add")
        if item not in FEED_ITEMS or verb not in STORED_VERBS:
            return Skipped("unsupported_event", f"{field} {item} {verb}")
        sender = value.get("from") or {}
        author_id = str(sender.get("id") or value.get("sender_id") or value.get("reviewer_id") or "")
        if author_id and author_id == str(entry["id"]):
            return Skipped(
                "own_account", "the Page's own activity", value.get("comment_id") or value.get("post_id")
            )
        object_id = value.get("comment_id") or value.get("post_id") or value.get("open_graph_story_id")
        if not object_id:
            raise ValueError(f"{field} {item} {verb} names no comment_id, post_id or open_graph_story_id")
        external = str(object_id)
        created = value.get("created_time") or entry["time"]
        post_id = value.get("post_id")
        kind = kind or FEED_ITEMS[item]
        rating = None
        if kind == "review":
            recommendation = value.get("recommendation_type")
            rating = (
                Rating(value=float(value["rating"]), scale=5.0)
                if value.get("rating") is not None
                else Rating(value=1.0 if recommendation == "positive" else 0.0, scale=1.0)
                if recommendation
                else None
            )
        changed_at = _time(entry["time"]) if verb != "add" else None
        # created_time stays the comment's creation time on every edit: the notification time
        # and the new text tell one edit from the next (a retry repeats both)
        event_id = f"{external}:{verb}:{created}"
        if verb != "add":
            text = str(value.get("message") or value.get("review_text") or "")
            event_id += f":{entry['time']}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
        return self.interaction(
            kind=kind,
            external_id=external,
            event_id=event_id,
            event_type=f"{field}.{item}.{verb}",
            occurred_at=_time(created),
            updated_at=changed_at,
            text=None if verb == "remove" else (value.get("message") or value.get("review_text")),
            url=(value.get("post") or {}).get("permalink_url") or value.get("link"),
            author=Author(
                provider_user_id=author_id or None,
                display_name=sender.get("name") or value.get("sender_name") or value.get("reviewer_name"),
            ),
            thread_id=post_id or external,
            parent_id=value.get("parent_id") if item != "post" else None,
            rating=rating,
            ratings=[rating] if rating else [],
            deleted=verb == "remove",
            public=True,
            connector=connector,
        )

    # Page webhook field -> its handler
    events = {"feed": _feed, "ratings": _ratings, "mention": _mention}


@dataclass(frozen=True)
class _Mention:
    """An Instagram `mentions` change: only ids; parse fetches the words (InstagramProvider)."""

    account: str  # the mentioned IG user (entry.id)
    media_id: str
    comment_id: str | None  # None: the mention is in the media's caption
    time: Any


class InstagramOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    graph_api_url: str = Field(
        default="https://graph.facebook.com/v26.0", description="Graph API base, to fetch mentions."
    )


class InstagramProvider(MetaProvider):
    """Instagram fields `comments` and `live_comments` (comment, author, media in the value), and
    `mentions` ({media_id, comment_id}: ids only). With `secrets.page_token` (a User token with
    instagram_basic, instagram_manage_comments, pages_read_engagement) the mentioned comment or
    caption is fetched on the processing side: GET /{ig-user-id}?fields=mentioned_comment.
    comment_id(ID){...} or mentioned_media.media_id(ID){...}, through the connector's budget.
    https://developers.facebook.com/docs/instagram-platform/instagram-api-with-facebook-login/mentions
    """

    name = "instagram"
    object_key = "instagram"  # a comment is the same object as a comments change or a mention
    object = "instagram"
    Options = InstagramOptions
    # Graph API platform limit for a User token: 200 calls per hour, per user
    fetch_rate_limit = (200, 3600.0)

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        return [
            guarded(lambda m: self._fetched_mention(m, delivery.connector, ctx.http), item, item.media_id)
            if isinstance(item, _Mention)
            else item
            for item in super().parse(delivery, ctx)
        ]

    def _comment(self, field: str, value: dict, entry: dict, connector) -> Interaction | Skipped:
        sender = value["from"]
        comment_id, media_id = str(value["id"]), str(value["media"]["id"])
        if str(sender["id"]) == str(entry["id"]):
            return Skipped("own_account", "a comment by the account itself", comment_id)
        return self.interaction(
            kind="comment",
            external_id=comment_id,
            event_id=f"{comment_id}:add:",
            event_type=field,
            occurred_at=_time(entry["time"]),
            text=value.get("text"),
            author=Author(provider_user_id=str(sender["id"]), handle=sender.get("username")),
            thread_id=media_id,
            parent_id=str(value.get("parent_id") or media_id),
            public=True,
            connector=connector,
        )

    def _mention(self, field: str, value: dict, entry: dict, connector) -> _Mention | Skipped:
        media_id, comment_id = str(value["media_id"]), value.get("comment_id")
        if not connector.has_secret("page_token"):
            detail = "a mention carries only ids; set secrets.page_token to fetch its text"
            return Skipped("needs_fetch", detail, str(comment_id or media_id))
        return _Mention(str(entry["id"]), media_id, str(comment_id) if comment_id else None, entry["time"])

    def _fetched_mention(self, mention: _Mention, connector, http) -> Interaction | Skipped:
        edge, object_id, fields = (
            ("mentioned_comment", f"comment_id({mention.comment_id})", "id,text,timestamp,username,from")
            if mention.comment_id
            else (
                "mentioned_media",
                f"media_id({mention.media_id})",
                "id,caption,timestamp,username,permalink",
            )
        )
        url = f"{connector.options.graph_api_url.rstrip('/')}/{mention.account}"
        params = {"fields": f"{edge}.{object_id}{{{fields}}}", "access_token": connector.secret("page_token")}
        try:
            _, body = fetch_json(http, url, params=params)
        except UpstreamError as exc:
            if exc.http_status == 404:  # deleted since the mention; a 400 (token, scope) dead-letters
                return Skipped("object_gone", "Graph API answered 404", mention.media_id)
            raise
        found = body[edge]
        sender = found.get("from") if isinstance(found.get("from"), dict) else {}
        external = mention.comment_id or mention.media_id
        return self.interaction(
            kind="mention",
            external_id=external,
            event_id=f"{external}:mention",
            event_type="mentions",
            occurred_at=_time(found.get("timestamp") or mention.time),
            text=found.get("text") or found.get("caption"),
            url=found.get("permalink"),
            author=Author(
                provider_user_id=str(sender["id"]) if sender.get("id") else None,
                handle=found.get("username") or sender.get("username"),
            ),
            thread_id=mention.media_id,
            parent_id=mention.media_id if mention.comment_id else None,
            public=True,
            connector=connector,
        )

    # Instagram webhook field -> its handler
    events = {"comments": _comment, "live_comments": _comment, "mentions": _mention}


class WhatsAppProvider(MetaProvider):
    """WhatsApp Business Platform (Cloud API) field `messages`: what customers write to the
    business number. value.messages[] {from (the customer's wa_id: a phone number without "+"),
    id (wamid), timestamp, type, text.body}; value.contacts[] {wa_id, profile.name}. Status
    updates of the business's own messages (value.statuses[]) are not a customer's voice.
    https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/messages
    """

    name = "whatsapp"
    object_key = "whatsapp"  # wamids are unique across WhatsApp
    object = "whatsapp_business_account"

    def _changes(self, entry: dict, connector) -> list[Interaction | Skipped]:
        changes = entry.get("changes")
        if not isinstance(changes, list):  # absent: nothing; anything else: one malformed entry
            return each_entry(lambda c: c, changes)
        results: list[Interaction | Skipped] = []
        for change in changes:
            results += guarded_all(lambda c: _as_list(self._change(c, entry, connector)), change)
        return results

    def _messages(self, field: str, value: dict, entry: dict, connector) -> list[Interaction | Skipped]:
        names = {str(c["wa_id"]): (c.get("profile") or {}).get("name") for c in value.get("contacts") or []}
        results: list[Interaction | Skipped] = []
        for message in value.get("messages") or []:
            results += guarded_all(lambda m: [self._message_of(m, names, connector)], message)
        if not results:
            return [Skipped("unsupported_event", "messages change without messages (statuses only)")]
        return results

    def _message_of(self, message: dict, names: dict, connector) -> Interaction | Skipped:
        wamid, sender = str(message["id"]), str(message["from"])
        if not wamid or not sender:
            raise ValueError("message without id or from")
        if message.get("type") != "text":
            return Skipped("unsupported_event", f"message type {message.get('type')}", wamid)
        return self.interaction(
            kind="direct_message",
            external_id=wamid,
            event_id=f"{wamid}:message",
            event_type="messages.text",
            occurred_at=utc_from_epoch(message["timestamp"]),
            text=message["text"]["body"],
            author=Author(provider_user_id=sender, phone="+" + sender, display_name=names.get(sender)),
            thread_id=sender,
            public=False,
            connector=connector,
        )

    # WhatsApp Business Account webhook field -> its handler
    events = {"messages": _messages}


def _as_list(found: Any) -> list[Interaction | Skipped]:
    return found if isinstance(found, list) else [found]
