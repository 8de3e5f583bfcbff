"""LinkedIn Organization Social Action Notifications: comments on a company page's posts and
posts that mention the page, pushed to a webhook.

Validation: GET ?challengeCode=C -> {"challengeCode": C, "challengeResponse": hex(HMAC-SHA256(
client secret, C))} as JSON within 3 s; LinkedIn re-validates about every 2 hours.
Signature: `X-LI-Signature` = hex(HMAC-SHA256(client secret, "hmacsha256=" + raw body)).
https://learn.microsoft.com/en-us/linkedin/shared/api-guide/webhook-validation

The challenge answer is an HMAC of an unauthenticated value under the key that signs deliveries.
It is given only for a UUID-shaped code (LinkedIn sends "a randomly generated type-4 UUID"),
and every signed message starts with "hmacsha256=", which no UUID does: an answer is never a
delivery's signature.
Body: {type: ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS, notifications: [{notificationId, action,
organizationalEntity, sourcePost, decoratedSourcePost, generatedActivity,
decoratedGeneratedActivity, lastModifiedAt, subscriber}]}; de-duplicated on notificationId.
Actions: COMMENT and COMMENT_EDIT -> comment (the page's post is its parent), COMMENT_DELETE
deletes it, SHARE_MENTION -> mention, SHARE (a reshare of the page's post) -> mention with the
resharer's words, or repost without them; ADMIN_COMMENT is the page itself; LIKE is not stored.
A notification without the words (URNs only) is completed on the processing side from the REST
API with `secrets.access_token` (scope r_organization_social), through the connector's budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from ..errors import HandshakeRejected, MalformedPayload, UpstreamError
from ..schema import Author, Interaction
from .base import Delivery, ParseContext, Skipped, WebResponse, utc_from_epoch
from .entries import entry_id, guarded
from .listener import fetch_json
from .signatures import sign, verify_hmac
from .source import SignedTestDelivery, Source

SIGNED_PREFIX = b"hmacsha256="
SIGNATURE_HEADER = "x-li-signature"
CHALLENGE_CODE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
EVENT_TYPE = "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS"
# a comment URN names its post: urn:li:comment:(urn:li:activity:123,456); notifications also
# carry the short form urn:li:comment:(activity:123,456), so both are read as one
COMMENT_URN = re.compile(r"urn:li:comment:\((?:urn:li:)?([a-zA-Z]+):([^,]+),([^)]+)\)")


def is_challenge_code(value: str) -> bool:
    """True for what the validation answers: a UUID, never a signed message."""
    return CHALLENGE_CODE.fullmatch(value) is not None


class LinkedInOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(
        default="https://api.linkedin.com/rest",
        # `api_url`: this option's name before every provider's was base_url; still read
        validation_alias=AliasChoices("base_url", "api_url"),
        description="REST API base, to fetch a comment or post (`api_url` is a deprecated name).",
    )
    linkedin_version: str = Field(
        default="202610", description="The LinkedIn-Version header (YYYYMM) of those fetches."
    )


class LinkedInProvider(Source):
    name = "linkedin"
    Options = LinkedInOptions
    handshake_methods = ("GET",)
    required_secrets = {"signing": "source"}
    # Community Management API calls, per member token; LinkedIn publishes per-app daily limits
    # in the developer portal only, so this stays well under any of them
    fetch_rate_limit = (100, 60.0)

    def handshake(self, request, connector) -> WebResponse | None:
        code = request.query.get("challengeCode")
        if not code:
            raise HandshakeRejected("GET needs a challengeCode query parameter")
        if not is_challenge_code(code):
            raise HandshakeRejected("challengeCode is not a UUID")
        answer = sign(connector.secret("signing"), code)
        return WebResponse(200, {"challengeCode": code, "challengeResponse": answer})

    def verify(self, request, connector, now) -> None:
        received = request.header(SIGNATURE_HEADER)
        if received and received.strip().lower().startswith("hmacsha256="):
            received = received.strip()[len("hmacsha256=") :]  # the prefix read as the header's own
        verify_hmac(received, key=connector.secret("signing"), message=SIGNED_PREFIX + request.body)

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        signature = sign(connector.secret("signing"), SIGNED_PREFIX + body)
        return SignedTestDelivery({"content-type": "application/json", SIGNATURE_HEADER: signature})

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        data = delivery.json()
        if not isinstance(data, dict) or not isinstance(data.get("notifications"), list):
            raise MalformedPayload("a LinkedIn delivery is an object with a notifications array")
        if data.get("type") != EVENT_TYPE:
            return [Skipped("unsupported_event", f"type {data.get('type')!r}")]
        results: list[Interaction | Skipped] = []
        for note in data["notifications"]:
            note_id = entry_id(note.get("notificationId")) if isinstance(note, dict) else None
            results.append(guarded(lambda n: self._notification(n, delivery, ctx), note, note_id))
        return results

    def _notification(self, note: dict[str, Any], delivery: Delivery, ctx: ParseContext):
        action = str(note["action"])
        handle = self.handler_for(action)
        if handle is None:
            return Skipped("unsupported_event", f"action {action}", str(note["notificationId"]))
        return handle(note, delivery.connector, ctx.http)

    def _comment(self, note: dict[str, Any], connector, http) -> Interaction | Skipped:
        urn = _comment_urn(_decorated(note, "comment").get("entity") or note["generatedActivity"])
        deleted = note["action"] == "COMMENT_DELETE"
        found = {} if deleted else _decorated(note, "comment")
        if not deleted and not found:  # URNs only: the words are fetched
            fetched = self._fetch(_comment_path(urn), note, connector, http)
            if isinstance(fetched, Skipped):
                return fetched
            found = {"owner": fetched.get("actor"), "text": _text(fetched)}
        return self._interaction(note, connector, urn, "comment", found, deleted=deleted)

    def _share(self, note: dict[str, Any], connector, http) -> Interaction | Skipped:
        urn = str(note["generatedActivity"])
        found = _decorated(note, "share")
        if not found:  # URNs only (a decorated reshare without words is a plain repost)
            fetched = self._fetch(f"/posts/{quote(urn, safe='')}", note, connector, http)
            if isinstance(fetched, Skipped):
                return fetched
            found = {"owner": fetched.get("author"), "text": fetched.get("commentary") or None}
        reshare = note["action"] == "SHARE"
        kind = "repost" if reshare and not _text(found) else "mention"
        return self._interaction(note, connector, urn, kind, found, parent=reshare)

    def _admin_comment(self, note: dict[str, Any], connector, http) -> Skipped:
        return Skipped("own_account", "a comment by the page itself", str(note["notificationId"]))

    def _interaction(
        self, note, connector, urn: str, kind: str, found: dict, *, deleted=False, parent=True
    ) -> Interaction | Skipped:
        owner = found.get("owner")
        if owner and owner == note.get("organizationalEntity"):
            return Skipped("own_account", "activity by the page itself", str(note["notificationId"]))
        post = str(note["sourcePost"]) if note.get("sourcePost") else None
        moment = utc_from_epoch(note["lastModifiedAt"], "ms")
        changed = note["action"] in ("COMMENT_EDIT", "COMMENT_DELETE")
        return self.interaction(
            connector,
            urn,
            key=urn,
            kind=kind,
            event_id=f"notification:{note['notificationId']}",
            event_type=str(note["action"]),
            occurred_at=moment,
            updated_at=moment if changed else None,
            text=None if deleted else _text(found),
            url=f"https://www.linkedin.com/feed/update/{post if kind == 'comment' and post else urn}/",
            author=Author(provider_user_id=str(owner) if owner else None),
            thread_id=post or urn,
            parent_id=post if parent else None,
            deleted=deleted,
            public=True,
        )

    def _fetch(self, path: str, note: dict[str, Any], connector, http) -> dict[str, Any] | Skipped:
        """The comment or post a notification names by URN only, from the REST API."""
        note_id = str(note["notificationId"])
        if not connector.has_secret("access_token"):
            return Skipped("needs_fetch", "the notification has no text; set secrets.access_token", note_id)
        options = connector.options
        headers = {
            "Authorization": f"Bearer {connector.secret('access_token')}",
            "LinkedIn-Version": options.linkedin_version,
            "X-Restli-Protocol-Version": "2.0.0",
        }
        try:
            _, body = fetch_json(http, options.base_url.rstrip("/") + path, headers=headers)
        except UpstreamError as exc:
            if exc.http_status in (404, 410):  # deleted before it was fetched: nothing to store
                return Skipped("object_gone", f"LinkedIn answered {exc.http_status}", note_id)
            raise
        return body

    # Organization Social Action Notifications: action -> the parser of one notification
    events = {
        "COMMENT": _comment,
        "COMMENT_EDIT": _comment,
        "COMMENT_DELETE": _comment,
        "SHARE_MENTION": _share,
        "SHARE": _share,
        "ADMIN_COMMENT": _admin_comment,
    }


def _decorated(note: dict[str, Any], what: str) -> dict[str, Any]:
    found = (note.get("decoratedGeneratedActivity") or {}).get(what)
    return found if isinstance(found, dict) else {}


def _text(found: dict[str, Any]) -> str | None:
    """The words of a comment or share: `text`, or `message.text` as the Comments API has it."""
    message = found.get("message")
    text = found.get("text") or (message.get("text") if isinstance(message, dict) else None)
    return str(text) if text else None


def _comment_urn(value: Any) -> str:
    """The comment URN in its long form, however the notification spelled it."""
    match = COMMENT_URN.fullmatch(str(value))
    if match is None:
        raise ValueError(f"not a comment URN: {str(value)[:80]!r}")
    kind, object_id, comment_id = match.groups()
    return f"urn:li:comment:(urn:li:{kind}:{object_id},{comment_id})"


def _comment_path(urn: str) -> str:
    """The Comments API path of one comment: /socialActions/{post URN}/comments/{comment id}."""
    match = COMMENT_URN.fullmatch(urn)
    assert match is not None  # _comment_urn built it
    kind, object_id, comment_id = match.groups()
    return (
        f"/socialActions/{quote(f'urn:li:{kind}:{object_id}', safe='')}/comments/{quote(comment_id, safe='')}"
    )
