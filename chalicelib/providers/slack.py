"""Slack Events API: messages in the channels of a community workspace.

Signature: `X-Slack-Signature: v0=` + hex(HMAC-SHA256(signing secret, "v0:{ts}:{raw body}")),
with `X-Slack-Request-Timestamp` inside a 5-minute window (replays are refused).
Handshake: a signed POST {"type": "url_verification", "challenge": C} -> C as text/plain.
Retries carry `X-Slack-Retry-Num`; they repeat the `event_id`, so the pipeline de-duplicates them.
Authors are user ids only (names and emails need users.info, not called here).
A message event with a missing or wrong-typed field is skipped as `malformed_entry`.
https://api.slack.com/authentication/verifying-requests-from-slack
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import MalformedPayload
from ..schema import Author, Interaction
from .base import Delivery, ParseContext, Provider, Skipped, WebResponse, interaction_id, utc_from_epoch
from .entries import entry_id, guarded
from .signatures import check_timestamp, parse_timestamp, verify_hmac

REPLAY_WINDOW_SECONDS = 300
NEW_MESSAGE_SUBTYPES = (None, "thread_broadcast", "file_share", "me_message")


class SlackOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workspace_url: str | None = Field(
        default=None, description="e.g. https://acme-community.slack.com, to build message permalinks."
    )


class SlackProvider(Provider):
    name = "slack"
    is_source = True
    Options = SlackOptions
    handshake_methods = ("POST",)
    required_secrets = {"signing": "source"}
    kept_headers = ("x-slack-retry-num", "x-slack-retry-reason")

    def verify(self, request, connector, now) -> None:
        raw_ts = request.header("x-slack-request-timestamp")
        check_timestamp(parse_timestamp(raw_ts), now, REPLAY_WINDOW_SECONDS)
        verify_hmac(
            request.header("x-slack-signature"),
            key=connector.secret("signing"),
            message=b"v0:" + raw_ts.strip().encode() + b":" + request.body,
            prefix="v0=",
        )

    def handshake(self, request, connector) -> WebResponse | None:
        """Called after verify: a url_verification POST is answered with its challenge."""
        try:
            data = request.json()  # parsed once: check_body reads the same
        except MalformedPayload:
            return None  # check_body answers 400
        if isinstance(data, dict) and data.get("type") == "url_verification":
            return WebResponse(200, str(data.get("challenge", "")))
        return None

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        data = delivery.json()
        if not isinstance(data, dict) or not isinstance(data.get("event"), dict):
            raise MalformedPayload("an event_callback carries an event object")
        event_id = entry_id(data.get("event_id"))
        if data.get("type") != "event_callback" or data["event"].get("type") != "message":
            return [Skipped("unsupported_event", str(data["event"].get("type")), event_id)]
        if event_id is None:
            return [Skipped("malformed_entry", "no event_id to de-duplicate on")]
        return [
            guarded(lambda event: self._message(event, event_id, delivery.connector), data["event"], event_id)
        ]

    def _message(self, event: dict[str, Any], event_id: str, connector) -> Interaction | Skipped:
        subtype, channel = event.get("subtype"), event["channel"]
        if subtype == "bot_message" or event.get("bot_id"):
            return Skipped("bot_message", "messages by bots are not a customer's voice", event_id)
        if subtype == "message_changed":
            message, deleted = event["message"], False
            changed_at = (message.get("edited") or {}).get("ts") or event.get("event_ts") or event["ts"]
        elif subtype == "message_deleted":
            message, deleted = {**(event.get("previous_message") or {}), "ts": event["deleted_ts"]}, True
            changed_at = event.get("event_ts") or event["ts"]
        elif subtype in NEW_MESSAGE_SUBTYPES:
            message, deleted, changed_at = event, False, None
        else:
            return Skipped("unsupported_event", f"message subtype {subtype}", event_id)
        if message.get("subtype") == "bot_message" or message.get("bot_id"):
            return Skipped("bot_message", "messages by bots are not a customer's voice", event_id)
        ts = message["ts"]
        thread_ts = message.get("thread_ts")
        reply = bool(thread_ts) and thread_ts != ts
        direct = event.get("channel_type") == "im"
        options = connector.options
        url = (
            f"{options.workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
            if options.workspace_url
            else None
        )
        external = f"{channel}:{ts}"
        return Interaction(
            interaction_id=interaction_id(connector.id, external),
            connector_id=connector.id,
            provider=self.name,
            external_id=external,
            event_id=event_id,
            event_type=subtype or "message",
            kind="direct_message" if direct else "comment" if reply else "post",
            occurred_at=utc_from_epoch(ts),
            updated_at=utc_from_epoch(changed_at) if changed_at else None,
            text=None if deleted else message.get("text"),
            url=url,
            author=Author(provider_user_id=message.get("user")),
            thread_id=f"{channel}:{thread_ts or ts}",
            parent_id=f"{channel}:{thread_ts}" if reply else None,
            public=not direct,
            deleted=deleted,
        )
