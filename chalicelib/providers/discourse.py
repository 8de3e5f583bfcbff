"""Discourse: posts and topics of a community forum (admin > API > Webhooks).

Signature: `X-Discourse-Event-Signature: sha256=` + hex(HMAC-SHA256(webhook secret, raw body)).
`X-Discourse-Event` names the event (post_created, post_edited, post_destroyed, post_recovered,
topic_created, ping); `X-Discourse-Instance` is the forum's base URL. Body: {"post": {...}} or {"topic": {...}}.
`X-Discourse-Event-Id` changes on every retry, so the de-dup key is post id + event + updated_at.
Edits replace the text; post_destroyed removes it; post_recovered (a default event type) restores
the post with its text. A recovery may keep the destroyed post's updated_at, so it is versioned no
earlier than its receipt: it then outranks the deletion it undoes.
Source: discourse/discourse app/jobs/regular/emit_web_hook_event.rb, web_hook_post_serializer.rb.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import MalformedPayload
from ..schema import Author, Interaction
from .base import Delivery, ParseContext, Skipped, parse_iso
from .entries import misshapen_is_malformed
from .signatures import BodySignature
from .source import Source

POST_EVENTS = ("post_created", "post_edited", "post_destroyed", "post_recovered")
REGULAR_POST = 1  # post_type: 2 moderator action, 3 small action, 4 whisper


class DiscourseOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skip_staff: bool = Field(default=True, description="Posts by staff are the brand's own voice: skip them.")


class DiscourseProvider(Source):
    name = "discourse"
    Options = DiscourseOptions
    required_secrets = {"signing": "source"}
    body_signature = BodySignature("x-discourse-event-signature", prefix="sha256=")
    kept_headers = ("x-discourse-event", "x-discourse-event-type", "x-discourse-instance")

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        data = delivery.json()
        if not isinstance(data, dict):
            raise MalformedPayload("a Discourse delivery is a JSON object")
        event = delivery.headers.get("x-discourse-event") or ""
        handler = self.handler_for("ping" if "ping" in data else event)
        if handler is None:
            return [Skipped("unsupported_event", event or "no X-Discourse-Event header")]
        return [handler(data, event, delivery)]

    def _ping(self, data: dict[str, Any], event: str, delivery: Delivery) -> Skipped:
        return Skipped("ping", "Discourse webhook ping")

    def _topic_created(self, data: dict[str, Any], event: str, delivery: Delivery) -> Skipped:
        return Skipped("covered_by_post", "a new topic's text arrives as its first post_created")

    def _post_event(self, data: dict[str, Any], event: str, delivery: Delivery) -> Interaction | Skipped:
        if not isinstance(data.get("post"), dict):
            return Skipped("unsupported_event", event)
        with misshapen_is_malformed("post is not in Discourse's shape"):
            return self._post(data["post"], event, delivery)

    def _post(self, post: dict[str, Any], event: str, delivery: Delivery) -> Interaction | Skipped:
        connector = delivery.connector
        post_id = str(post["id"])
        if post.get("post_type", REGULAR_POST) != REGULAR_POST:
            return Skipped("unsupported_event", f"post_type {post.get('post_type')}", post_id)
        if connector.options.skip_staff and post.get("staff"):
            return Skipped("own_account", "post by forum staff", post_id)
        private = post.get("topic_archetype") == "private_message"
        topic_id, number = str(post["topic_id"]), post["post_number"]
        reply_to = post.get("reply_to_post_number")
        instance = (delivery.headers.get("x-discourse-instance") or "").rstrip("/")
        deleted = event == "post_destroyed"
        version = VERSIONS.get(event)
        updated = None if version is None else version(post, delivery)
        return self.interaction(
            connector,
            post_id,
            kind="direct_message" if private else "post" if number == 1 else "comment",
            event_id=f"{post_id}:{event}:{post['updated_at']}",
            event_type=event,
            occurred_at=parse_iso(post["created_at"]),
            updated_at=updated,
            text=None if deleted else post.get("raw"),
            url=f"{instance}/t/{post.get('topic_slug') or '-'}/{topic_id}/{number}" if instance else None,
            author=Author(
                handle=post.get("username"),
                provider_user_id=str(post["user_id"]),
                display_name=post.get("name") or None,
            ),
            thread_id=topic_id,
            parent_id=f"{topic_id}#{reply_to}" if reply_to else None,
            public=not private,
            deleted=deleted,
        )

    # X-Discourse-Event -> its handler ("ping" also when the body is {"ping": ...})
    events = {
        "ping": _ping,
        "topic_created": _topic_created,
        **dict.fromkeys(POST_EVENTS, _post_event),
    }


def _changed_at(post: dict[str, Any], delivery: Delivery) -> datetime:
    return parse_iso(post.get("deleted_at") or post["updated_at"])


def _recovered_at(post: dict[str, Any], delivery: Delivery) -> datetime:
    return max(parse_iso(post["updated_at"]), delivery.received_at)


# event -> the post's version (updated_at): an edit or deletion is as new as its change, a
# recovery no earlier than its receipt; a new post has none
VERSIONS: dict[str, Callable[[dict[str, Any], Delivery], datetime]] = {
    "post_edited": _changed_at,
    "post_destroyed": _changed_at,
    "post_recovered": _recovered_at,
}
