"""Intercom: what customers write in conversations (Developer Hub app webhooks).

Handshake: saving the endpoint URL sends a HEAD request "which we use to validate the URL": 200.
Signature: `X-Hub-Signature: sha1=` + hex(HMAC-SHA1(the app's client secret, raw body)).
Envelope: {type: "notification_event", id: "notif_...", topic, data: {item: <conversation>}}.
Topics used: conversation.user.created (the opening message, `item.source`) and
conversation.user.replied (new `item.conversation_parts.conversation_parts[]`). Admin replies
and bots are the brand's voice, not the customer's: skipped. `ping` is skipped.
Bodies are HTML: stored as plain text. Conversations are private: kind direct_message.
https://developers.intercom.com/docs/webhooks/setting-up-webhooks
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import MalformedPayload
from ..schema import Author, Interaction
from .base import Delivery, ParseContext, Skipped, WebResponse, utc_from_epoch
from .entries import guarded, html_to_text
from .signatures import BodySignature
from .source import Source

CUSTOMER_TYPES = ("user", "lead", "contact")


class IntercomProvider(Source):
    name = "intercom"
    handshake_methods = ("HEAD",)
    required_secrets = {"signing": "source"}
    body_signature = BodySignature("x-hub-signature", algorithm="sha1", prefix="sha1=")

    def handshake(self, request, connector) -> WebResponse | None:
        return WebResponse(200, b"")  # HEAD: the URL exists; nothing is disclosed

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        data = delivery.json()
        if not isinstance(data, dict) or data.get("type") != "notification_event":
            raise MalformedPayload("an Intercom delivery is a notification_event object")
        topic, notification = data.get("topic"), str(data.get("id"))
        handler = self.handler_for(str(topic))
        if handler is not None:
            return handler(data, str(topic), notification, delivery)
        if isinstance(topic, str) and topic.startswith("conversation.admin."):
            return [Skipped("admin_reply", f"{topic}: the brand's own voice", notification)]
        return [Skipped("unsupported_event", str(topic), notification)]

    def _ping(self, data: dict, topic: str, notification: str, delivery: Delivery) -> list[Skipped]:
        return [Skipped("ping", "Intercom webhook ping", notification)]

    def _opened(self, data: dict, topic: str, notification: str, delivery: Delivery) -> list:
        """conversation.user.created: the opening message is the conversation's `source`."""
        item = _item(data)
        return [
            guarded(
                lambda s: self._part(s, str(item["id"]), topic, item.get("created_at"), delivery.connector),
                item.get("source"),
                notification,
            )
        ]

    def _replied(self, data: dict, topic: str, notification: str, delivery: Delivery) -> list:
        """conversation.user.replied: each new part of the conversation."""
        item = _item(data)
        parts = ((item.get("conversation_parts") or {}).get("conversation_parts")) or []
        return [
            guarded(
                lambda p: self._part(p, str(item["id"]), topic, None, delivery.connector), part, notification
            )
            for part in parts
        ] or [Skipped("unsupported_event", "reply without conversation parts", notification)]

    def _part(
        self, part: dict[str, Any], conversation: str, topic: str, created_at: Any, connector
    ) -> Interaction | Skipped:
        author = part["author"]
        part_id = str(part["id"])
        if author.get("type") not in CUSTOMER_TYPES:
            return Skipped("admin_reply", f"part by {author.get('type')}", part_id)
        if part.get("part_type", "comment") != "comment" and topic != "conversation.user.created":
            return Skipped("unsupported_event", f"part_type {part.get('part_type')}", part_id)
        external = f"{conversation}:{part_id}"
        opening = topic == "conversation.user.created"
        return self.interaction(
            connector,
            external,
            kind="direct_message",
            event_id=f"{external}:{topic}",
            event_type=topic,
            occurred_at=utc_from_epoch(part.get("created_at") or created_at),
            text=html_to_text(part.get("body")),
            author=Author(
                provider_user_id=str(author["id"]),
                email=author.get("email") or None,
                display_name=author.get("name") or None,
            ),
            thread_id=conversation,
            parent_id=None if opening else conversation,
            public=False,
        )

    # notification topic -> its handler; conversation.admin.* are the brand's voice, other
    # topics unsupported
    events = {"ping": _ping, "conversation.user.created": _opened, "conversation.user.replied": _replied}


def _item(data: dict[str, Any]) -> dict[str, Any]:
    wrapper = data.get("data")
    item = wrapper.get("item") if isinstance(wrapper, dict) else None
    if not isinstance(item, dict) or "id" not in item:
        raise MalformedPayload("notification has no conversation item")
    return item
