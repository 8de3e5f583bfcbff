"""Zendesk: ticket comments (event-subscribed webhooks) and CSAT ratings (trigger webhooks).

Signature (https://developer.zendesk.com/documentation/webhooks/verifying/):
`X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(signing secret, TIMESTAMP + BODY)) with the
ISO-8601 `X-Zendesk-Webhook-Signature-Timestamp`; we refuse timestamps over 5 minutes off.

1. Comments: a webhook subscribed to `zen:event-type:ticket.comment_added` sends the standard
   envelope `{type, account_id, id, time, subject: "zen:ticket:<id>", detail{ticket}, event{comment}}`.
   Comments by agents (`author.is_staff`) are the company's own voice and are skipped.
   `ticket.comment_redacted` and `ticket.comment_made_private` remove the comment's text;
   `ticket.soft_deleted` and `ticket.permanently_deleted` remove the text of every stored
   comment and rating of the ticket (a thread deletion).
2. CSAT: a trigger per rating ("Satisfaction | Changed to | Good", and one for Bad) sends this
   JSON body, which the admin pastes as the webhook request body with the machine value written
   out in `score` (good / bad, or the number of a numeric scale):
   {"type": "satisfaction_rating", "ticket_id": "{{ticket.id}}", "score": "good",
    "rating": "{{satisfaction.current_rating}}", "comment": "{{satisfaction.current_comment}}",
    "requester": {"id": "{{ticket.requester.id}}", "email": "{{ticket.requester.email}}",
                  "name": "{{ticket.requester.name}}"},
    "updated_at": "{{ticket.updated_at_with_timestamp}}"}
   `rating` is the rendered text, which Zendesk translates into the requester's language ("this
   automatic translation cannot be disabled"): it is used only when it is itself a machine value;
   other text is dead-lettered with the reason, never dropped silently. A changed rating updates
   the same Interaction (one per ticket).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import MalformedPayload
from ..schema import Author, Interaction, Rating
from .base import Delivery, ParseContext, Skipped, parse_iso
from .entries import misshapen_is_malformed
from .signatures import check_timestamp, parse_timestamp, sign, verify_hmac
from .source import SignedTestDelivery, Source

SIGNATURE = "x-zendesk-webhook-signature"
TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
COMMENT_ADDED = "zen:event-type:ticket.comment_added"
COMMENT_REMOVED = ("zen:event-type:ticket.comment_redacted", "zen:event-type:ticket.comment_made_private")
TICKET_DELETED = ("zen:event-type:ticket.soft_deleted", "zen:event-type:ticket.permanently_deleted")
SATISFACTION = "satisfaction_rating"
BINARY_RATINGS = {"good": 1.0, "bad": 0.0}
NOT_RATED = ("", "offered", "unoffered")


class ZendeskOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tolerance_seconds: int = Field(default=300, gt=0, description="Replay window for the timestamp.")
    csat_scale: float = Field(default=5.0, gt=0, description="Top of a numeric CSAT scale.")


class ZendeskProvider(Source):
    name = "zendesk"
    Options = ZendeskOptions
    required_secrets = {"signing": "source"}
    kept_headers = (TIMESTAMP,)

    def verify(self, request, connector, now) -> None:
        stamp = request.header(TIMESTAMP)
        check_timestamp(parse_timestamp(stamp, "iso"), now, connector.options.tolerance_seconds)
        verify_hmac(
            request.header(SIGNATURE),
            key=connector.secret("signing"),
            message=stamp.encode() + request.body,
            encoding="base64",
        )

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        stamp = datetime.fromtimestamp(int(now), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        signature = sign(connector.secret("signing"), stamp.encode() + body, encoding="base64")
        return SignedTestDelivery(
            {"content-type": "application/json", TIMESTAMP: stamp, SIGNATURE: signature}
        )

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        data = delivery.json()
        if not isinstance(data, dict) or not data.get("type") or not isinstance(data["type"], str):
            raise MalformedPayload("a Zendesk webhook body is a JSON object with a type")
        parse_one = {
            COMMENT_ADDED: self._comment,
            SATISFACTION: self._rating,
            **dict.fromkeys(COMMENT_REMOVED, self._comment_removed),
            **dict.fromkeys(TICKET_DELETED, self._ticket_deleted),
        }.get(data["type"])
        if parse_one is None:
            return [Skipped("unsupported_event", str(data["type"]), data.get("id"))]
        with misshapen_is_malformed(f"{data['type']} is not in Zendesk's shape"):
            return [parse_one(data, delivery)]

    def _comment(self, data: dict[str, Any], delivery: Delivery) -> Interaction | Skipped:
        comment, ticket = data["event"]["comment"], data["detail"]
        author = comment.get("author") or {}
        if author.get("is_staff"):
            return Skipped("own_account", "comment by an agent", data["id"])
        connector, comment_id = delivery.connector, f"comment:{comment['id']}"
        return self.interaction(
            connector,
            comment_id,
            kind="comment",
            event_id=str(data["id"]),
            event_type=data["type"],
            occurred_at=parse_iso(data["time"]),
            text=comment.get("body"),
            author=Author(
                provider_user_id=str(author["id"]) if author.get("id") else None,
                display_name=author.get("name"),
            ),
            thread_id=f"ticket:{ticket['id']}",
            public=bool(comment.get("is_public")),
        )

    def _comment_removed(self, data: dict[str, Any], delivery: Delivery) -> Interaction:
        """A redacted or privatised comment: Chorus keeps none of its text."""
        comment, connector = data["event"]["comment"], delivery.connector
        author = comment.get("author") or {}
        comment_id, ticket_id = f"comment:{comment['id']}", _ticket_id(data)
        moment = parse_iso(data["time"])
        return self.interaction(
            connector,
            comment_id,
            kind="comment",
            event_id=str(data["id"]),
            event_type=data["type"],
            occurred_at=moment,
            updated_at=moment,
            author=Author(provider_user_id=str(author["id"]) if author.get("id") else None),
            thread_id=f"ticket:{ticket_id}",
            public=False,
            deleted=True,
        )

    def _ticket_deleted(self, data: dict[str, Any], delivery: Delivery) -> Interaction:
        """A deleted ticket: every stored item of its thread loses its text. The requester is
        the author Chorus filed the ticket's comments and rating under."""
        connector, ticket_id = delivery.connector, _ticket_id(data)
        requester = (data.get("detail") or {}).get("requester_id")
        moment = parse_iso(data["time"])
        return self.interaction(
            connector,
            f"ticket:{ticket_id}",
            kind="comment",
            event_id=str(data["id"]),
            event_type=data["type"],
            occurred_at=moment,
            updated_at=moment,
            author=Author(provider_user_id=str(requester) if requester else None),
            thread_id=f"ticket:{ticket_id}",
            public=False,
            deleted=True,
            deletes_thread=True,
        )

    def _rating(self, data: dict[str, Any], delivery: Delivery) -> Interaction | Skipped:
        connector, ticket_id = delivery.connector, str(data["ticket_id"])
        machine = str(data.get("score") or "").strip().lower()
        raw = machine or str(data.get("rating") or "").strip().lower()
        if raw in BINARY_RATINGS:
            rating = Rating(value=BINARY_RATINGS[raw], scale=1.0)
        elif raw.replace(".", "", 1).isdigit():
            rating = Rating(value=float(raw), scale=connector.options.csat_scale)
        elif raw in NOT_RATED:  # nothing rated yet
            return Skipped("no_rating", f"satisfaction is '{raw or 'empty'}'", ticket_id)
        else:
            raise MalformedPayload(
                f"satisfaction {'score' if machine else 'rating'} is rendered text, not a machine value: "
                "write the value (good / bad / a number) in the trigger body's `score`"
            )
        requester = data.get("requester") or {}
        moment = _moment(data.get("updated_at"), delivery)
        external_id = f"ticket:{ticket_id}:satisfaction"
        return self.interaction(
            connector,
            external_id,
            kind="survey_response",
            event_id="csat:" + hashlib.sha256(delivery.body).hexdigest()[:32],
            event_type=SATISFACTION,
            occurred_at=moment,
            updated_at=moment,
            rating=rating,
            text=f"Comment: {data['comment'].strip()}" if (data.get("comment") or "").strip() else None,
            author=Author(
                email=requester.get("email") or None,
                display_name=requester.get("name") or None,
                provider_user_id=str(requester["id"]) if requester.get("id") else None,
            ),
            thread_id=f"ticket:{ticket_id}",
            public=False,
        )


def _ticket_id(data: dict[str, Any]) -> str:
    """The ticket of an event: detail.id, else the `zen:ticket:<id>` subject."""
    ticket = str((data.get("detail") or {}).get("id") or "")
    subject = str(data.get("subject") or "")
    if not ticket and subject.startswith("zen:ticket:"):
        ticket = subject.removeprefix("zen:ticket:")
    if not ticket:
        raise ValueError("event names no ticket (detail.id or subject zen:ticket:<id>)")
    return ticket


def _moment(value: str | None, delivery: Delivery):
    """The template's updated_at, else the signed timestamp, else when we received it."""
    for candidate in (value, delivery.headers.get(TIMESTAMP)):
        if candidate and candidate.strip():
            try:
                return parse_iso(candidate.strip())
            except ValueError:
                continue
    return delivery.received_at
