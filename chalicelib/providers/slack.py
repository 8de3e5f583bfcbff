"""Slack Events API: messages in the channels of a community workspace.

Signature: `X-Slack-Signature: v0=` + hex(HMAC-SHA256(signing secret, "v0:{ts}:{raw body}")),
with `X-Slack-Request-Timestamp` inside a 5-minute window (replays are refused).
Handshake: a signed POST {"type": "url_verification", "challenge": C} -> C as text/plain.
Retries carry `X-Slack-Retry-Num`; they repeat the `event_id`, so the pipeline de-duplicates them.
Authors come as user ids only; with a bot token (`secrets.bot_token`, scope `users:read`, and
`users:read.email` for emails) the processing side fetches each author's profile once with
`users.info` (pipeline/authors.py), so a member links to their CRM contact by email.
A message event with a missing or wrong-typed field is skipped as `malformed_entry`.
Edits (`message_changed`) update the message; `message_deleted`, and a `message_changed` whose
message is a `tombstone` (a deleted thread parent with replies, shown by Slackbot as "This
message was deleted."), delete it: its author is taken from `previous_message`, never Slackbot.
Only `channel_type: channel` is public; `group` (private channel), `im` and `mpim` are not, and
`im`/`mpim` are direct messages. `app_rate_limited` (no inner event) is counted, not dead-lettered.
https://api.slack.com/authentication/verifying-requests-from-slack
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import MalformedPayload
from ..schema import Author, Interaction
from .author_fetch import AuthorFetcher
from .base import Delivery, ParseContext, Skipped, WebResponse, utc_from_epoch
from .entries import entry_id, guarded
from .listener import fetch_json
from .signatures import check_timestamp, parse_timestamp, sign, verify_hmac
from .source import SignedTestDelivery, Source

REPLAY_WINDOW_SECONDS = 300
NEW_MESSAGE_SUBTYPES = ("message", "thread_broadcast", "file_share", "me_message")
DIRECT_CHANNEL_TYPES = ("im", "mpim")
SLACKBOT = "USLACKBOT"


class SlackOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workspace_url: str | None = Field(
        default=None, description="e.g. https://acme-community.slack.com, to build message permalinks."
    )
    api_url: str = Field(default="https://slack.com/api", description="Web API base, for users.info.")


class SlackProvider(Source, AuthorFetcher):
    name = "slack"
    # users.info is a Tier 4 method: 100+ calls per minute per workspace
    author_rate_limit = (100, 60.0)
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

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        stamp = str(int(now))
        signature = sign(connector.secret("signing"), b"v0:" + stamp.encode() + b":" + body, prefix="v0=")
        return SignedTestDelivery(
            {
                "content-type": "application/json",
                "x-slack-request-timestamp": stamp,
                "x-slack-signature": signature,
            }
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
        if isinstance(data, dict) and data.get("type") == "app_rate_limited":
            return [
                Skipped(
                    "rate_limited",
                    f"Slack is rate-limiting this app's events for team {data.get('team_id')} "
                    f"since minute {data.get('minute_rate_limited')}",
                )
            ]
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
        read = self.handler_for(subtype or "message")
        if read is None:
            return Skipped("unsupported_event", f"message subtype {subtype}", event_id)
        message, deleted, changed_at = read(event)
        if message.get("subtype") == "bot_message" or message.get("bot_id"):
            return Skipped("bot_message", "messages by bots are not a customer's voice", event_id)
        ts = message["ts"]
        thread_ts = message.get("thread_ts")
        reply = bool(thread_ts) and thread_ts != ts
        channel_type = event.get("channel_type")
        direct = channel_type in DIRECT_CHANNEL_TYPES
        user = message.get("user")
        options = connector.options
        url = (
            f"{options.workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
            if options.workspace_url
            else None
        )
        external = f"{channel}:{ts}"
        return self.interaction(
            connector,
            external,
            event_id=event_id,
            event_type=subtype or "message",
            kind="direct_message" if direct else "comment" if reply else "post",
            occurred_at=utc_from_epoch(ts),
            updated_at=utc_from_epoch(changed_at) if changed_at else None,
            text=None if deleted else message.get("text"),
            url=url,
            author=Author(provider_user_id=None if user == SLACKBOT else user),
            thread_id=f"{channel}:{thread_ts or ts}",
            parent_id=f"{channel}:{thread_ts}" if reply else None,
            public=channel_type == "channel",
            deleted=deleted,
        )

    def wants_author(self, interaction: Interaction, connector) -> str | None:
        author = interaction.author
        if not connector.has_secret("bot_token") or not author.provider_user_id or author.email:
            return None
        return author.provider_user_id

    def author_details(self, user_id: str, connector, http) -> Author | None:
        """users.info: the member's names and, with `users:read.email`, their email."""
        _, body = fetch_json(
            http,
            f"{connector.options.api_url.rstrip('/')}/users.info",
            params={"user": user_id},
            headers={"Authorization": f"Bearer {connector.secret('bot_token')}"},
        )
        user = body.get("user") if body.get("ok") else None
        if not isinstance(user, dict) or user.get("is_bot") or user.get("deleted"):
            return None  # user_not_found, missing_scope...: the id stands alone
        found = user.get("profile")
        profile: dict[str, Any] = found if isinstance(found, dict) else {}
        return Author(
            email=profile.get("email") or None,
            display_name=profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or None,
        )

    # each reader: (the message as it now stands, whether it is deleted, when it changed)
    def _new(self, event: dict[str, Any]) -> tuple[dict[str, Any], bool, Any]:
        return event, False, None

    def _changed(self, event: dict[str, Any]) -> tuple[dict[str, Any], bool, Any]:
        if event["message"].get("subtype") == "tombstone":  # a deleted parent keeps its thread
            tombstone, previous = event["message"], event.get("previous_message") or {}
            message = {**previous, "ts": tombstone["ts"]}
            message.setdefault("thread_ts", tombstone.get("thread_ts"))
            return message, True, event.get("event_ts") or event["ts"]
        message = event["message"]
        return message, False, (message.get("edited") or {}).get("ts") or event.get("event_ts") or event["ts"]

    def _deleted(self, event: dict[str, Any]) -> tuple[dict[str, Any], bool, Any]:
        message = {**(event.get("previous_message") or {}), "ts": event["deleted_ts"]}
        return message, True, event.get("event_ts") or event["ts"]

    # message subtype ("message": none) -> its reader; bot messages are skipped before
    events = {
        **dict.fromkeys(NEW_MESSAGE_SUBTYPES, _new),
        "message_changed": _changed,
        "message_deleted": _deleted,
    }
