"""Meta Graph webhooks: Facebook Pages (`object: page`) and Instagram (`object: instagram`).

One module, two registered providers (`facebook`, `instagram`) so each platform's user ids
stay in their own identity namespace (a Page-scoped id is not an Instagram-scoped id).
Handshake: GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C -> C as text/plain,
403 unless T equals secrets.verify_token (constant time).
Signature: `X-Hub-Signature-256: sha256=` + hex(HMAC-SHA256(app secret = secrets.signing, body)).
Body: {object, entry: [{id, time, changes: [{field, value}], messaging: [...]}]}, batched.
https://developers.facebook.com/docs/graph-api/webhooks/getting-started/
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import HandshakeRejected, MalformedPayload
from ..schema import Author, Interaction, Rating
from .base import (
    Delivery,
    ParseContext,
    Provider,
    Skipped,
    WebResponse,
    interaction_id,
    parse_iso,
    utc_from_epoch,
)
from .entries import each_entry
from .signatures import BodySignature, constant_time_equals

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


def _time(value: Any):
    """Meta sends unix seconds in feed changes, ISO strings in some fields."""
    return (
        utc_from_epoch(value) if isinstance(value, (int, float)) or str(value).isdigit() else parse_iso(value)
    )


class MetaProvider(Provider):
    """Shared by Facebook and Instagram; subclasses name the `object` they accept."""

    name = "meta"
    object = ""
    is_source = True
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
            return [Skipped("unsupported_event", f"object {data.get('object')!r}")]
        results: list[Interaction | Skipped] = []
        for entry in data["entry"]:
            if not isinstance(entry, dict):
                results.append(Skipped("malformed_entry", "entry is not an object"))
                continue
            results += each_entry(lambda c: self._change(c, entry, delivery.connector), entry.get("changes"))
            results += each_entry(
                lambda m: self._message(m, entry, delivery.connector), entry.get("messaging")
            )
        return results

    def _change(self, change: dict, entry: dict, connector) -> Interaction | Skipped:
        raise NotImplementedError

    def _message(self, event: dict, entry: dict, connector) -> Interaction | Skipped:
        """Messenger / Instagram Direct: entry.messaging[] {sender, recipient, timestamp, message}."""
        message = event.get("message")
        sender = str(event["sender"]["id"])
        if not isinstance(message, dict) or not message.get("mid"):
            return Skipped("unsupported_event", "messaging event without a message")
        if message.get("is_echo") or sender == str(entry["id"]):
            return Skipped("own_account", "message sent by the account itself", message["mid"])
        mid = str(message["mid"])
        return self._interaction(
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

    def _interaction(self, *, connector, external_id: str, **fields) -> Interaction:
        return Interaction(
            interaction_id=interaction_id(connector.id, external_id),
            connector_id=connector.id,
            provider=self.name,
            external_id=external_id,
            **fields,
        )


class FacebookProvider(MetaProvider):
    """Page fields `feed` (posts, comments, ratings on the Page), `ratings` and `mention`."""

    name = "facebook"
    object = "page"

    def _change(self, change: dict, entry: dict, connector) -> Interaction | Skipped:
        field, value = change["field"], change["value"]
        if field == "ratings":
            value = {**value, "item": value.get("item") or "rating"}
        elif field not in ("feed", "mention"):
            return Skipped("unsupported_event", f"field {field}")
        item, verb = value.get("item"), value.get("verb", "add")
        if item not in FEED_ITEMS or verb not in STORED_VERBS:
            return Skipped("unsupported_event", f"{field} {item} {verb}")
        sender = value.get("from") or {}
        author_id = str(sender.get("id") or value.get("sender_id") or value.get("reviewer_id") or "")
        if author_id and author_id == str(entry["id"]):
            return Skipped(
                "own_account", "the Page's own activity", value.get("comment_id") or value.get("post_id")
            )
        external = str(value.get("comment_id") or value.get("post_id") or value.get("open_graph_story_id"))
        created = value.get("created_time") or entry["time"]
        post_id = value.get("post_id")
        kind = "mention" if field == "mention" else FEED_ITEMS[item]
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
        return self._interaction(
            kind=kind,
            external_id=external,
            event_id=f"{external}:{verb}:{created}",
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
            deleted=verb == "remove",
            public=True,
            connector=connector,
        )


class InstagramProvider(MetaProvider):
    """Instagram fields `comments` and `live_comments` (comment, author, media in the value).
    `mentions` carries only {media_id, comment_id}: the text needs a Graph API call, not done here."""

    name = "instagram"
    object = "instagram"

    def _change(self, change: dict, entry: dict, connector) -> Interaction | Skipped:
        field, value = change["field"], change["value"]
        if field not in ("comments", "live_comments"):
            return Skipped("unsupported_event", f"field {field}")
        sender = value["from"]
        comment_id, media_id = str(value["id"]), str(value["media"]["id"])
        if str(sender["id"]) == str(entry["id"]):
            return Skipped("own_account", "a comment by the account itself", comment_id)
        return self._interaction(
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
