"""X (Twitter) Account Activity API: tweets that mention, reply to or quote the account,
likes of its posts, and direct messages to it.

CRC: GET ?crc_token=T -> {"response_token": "sha256=" + base64(HMAC-SHA256(secret, T))}.
Signature: `x-twitter-webhooks-signature: sha256=` + base64(HMAC-SHA256(consumer_secret, body)), and
`X-Twitter-Webhooks-Signature-OAuth2` (same format) keyed with the app's OAuth 2.0 client secret.
Secrets: `signing` is the consumer secret (API Secret Key); `oauth2_client_secret`, when the app has
one, signs the CRC and the OAuth2 header (X: "generate it with the OAuth 2.0 client secret when
available"). An app with only an OAuth 2.0 secret sets options.oauth2_signature and puts it in
`signing`. https://docs.x.com/x-api/webhooks/introduction

The CRC answer is an HMAC of an unauthenticated value under the key that signs deliveries, so it
would sign any body an outsider chose. It is given only for a token-shaped value (base64
characters, bounded length), and a body of that shape is never accepted: no `{`, `"` or space,
so no JSON object (every Account Activity delivery is one) can be a token.
A delivery holds event arrays keyed by type (`tweet_create_events`, ...) for `for_user_id`.
Kinds: reply -> comment, quote -> mention (parent = the quoted post), @mention -> mention,
repost (`retweeted_status`) -> repost without text (the reposted words are not the fan's: no
sentiment, no brand mention; counts for frequency, recency and reach),
like of the account's post (favorite_events) -> mention without text (a public endorsement:
counts for frequency, recency and reach, never for sentiment), direct message -> direct_message.
Edits: each edit is a new post id; `edit_history.initial_tweet_id` (v1.1) or the first of
`edit_history_tweet_ids` (v2) names the original, so every version updates one interaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import HandshakeRejected, MalformedPayload, SignatureMismatch
from ..schema import Author, Interaction
from .base import Delivery, ParseContext, Skipped, WebResponse, utc_from_epoch
from .entries import guarded
from .signatures import sign, verify_hmac
from .source import SignedTestDelivery, Source

X_TIME_FORMAT = "%a %b %d %H:%M:%S %z %Y"
# X sends base64 tokens (a 48-character one seen in a captured delivery log); 255 leaves room
CRC_TOKEN = re.compile(rb"[A-Za-z0-9+/=_-]{1,255}")
OAUTH2_HEADER = "x-twitter-webhooks-signature-oauth2"
LEGACY_HEADER = "x-twitter-webhooks-signature"


def is_crc_token_shaped(value: str | bytes) -> bool:
    """True for what the CRC answers: never a JSON object, so never a delivery."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return CRC_TOKEN.fullmatch(raw) is not None


class XOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    oauth2_signature: bool = Field(
        default=False,
        description="The app has only an OAuth 2.0 client secret, put in secrets.signing: verify "
        "X-Twitter-Webhooks-Signature-OAuth2 only. An app with both secrets keeps the consumer "
        "secret in secrets.signing and adds secrets.oauth2_client_secret instead.",
    )


class XProvider(Source):
    name = "x"
    Options = XOptions
    handshake_methods = ("GET",)
    required_secrets = {"signing": "source"}

    def handshake(self, request, connector) -> WebResponse | None:
        token = request.query.get("crc_token")
        if not token:
            raise HandshakeRejected("GET needs a crc_token query parameter")
        if not is_crc_token_shaped(token):
            raise HandshakeRejected("crc_token is not a token (base64 characters, at most 255)")
        oauth2_key, _ = _keys(connector)
        key = oauth2_key if oauth2_key is not None else connector.secret("signing")
        digest = sign(key, token, encoding="base64", prefix="sha256=")
        return WebResponse(200, {"response_token": digest})

    def verify(self, request, connector, now) -> None:
        if is_crc_token_shaped(request.body):  # what a CRC answer signs: never a delivery
            raise SignatureMismatch("a body shaped like a CRC token is not a delivery")
        oauth2_key, consumer_key = _keys(connector)
        oauth2_header = request.header(OAUTH2_HEADER)
        # The OAuth2 header is checked when present, never downgraded to the legacy one on failure
        key: str | None
        if oauth2_key is not None and (oauth2_header is not None or consumer_key is None):
            header, key = oauth2_header, oauth2_key
        else:
            header, key = request.header(LEGACY_HEADER), consumer_key
        verify_hmac(header, key=key or "", message=request.body, encoding="base64", prefix="sha256=")

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        oauth2_key, consumer_key = _keys(connector)
        header, key = (
            (LEGACY_HEADER, consumer_key) if consumer_key is not None else (OAUTH2_HEADER, oauth2_key)
        )
        signature = sign(key or "", body, encoding="base64", prefix="sha256=")
        return SignedTestDelivery({"content-type": "application/json", header: signature})

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        data = delivery.json()
        if not isinstance(data, dict):
            raise MalformedPayload("an Account Activity delivery is a JSON object")
        account = str(data.get("for_user_id") or "")
        results: list[Interaction | Skipped] = []
        for key, events in data.items():
            handle = self.handler_for(key)
            if handle is not None and isinstance(events, list):
                results += [self._guard(handle, event, account, delivery, data) for event in events]
            elif key.endswith("_events"):
                results.append(Skipped("unsupported_event", key))
        return results

    @staticmethod
    def _guard(
        parse_one, event: Any, account: str, delivery: Delivery, data: dict[str, Any]
    ) -> Interaction | Skipped:
        event_id = (event.get("id_str") or event.get("id")) if isinstance(event, dict) else None
        return guarded(
            lambda e: parse_one(e, account, delivery.connector, data),
            event,
            None if event_id is None else str(event_id),
        )

    def _tweet(self, tweet: dict[str, Any], account: str, connector, data: Any) -> Interaction | Skipped:
        user = tweet["user"]
        tweet_id, user_id = str(tweet["id_str"]), str(user["id_str"])
        if user_id == account:
            return Skipped("own_account", "tweet by the subscribed account itself", tweet_id)
        if isinstance(tweet.get("retweeted_status"), dict):
            return self._repost(tweet, connector)
        original = _initial_tweet_id(tweet)
        extended = tweet.get("extended_tweet") or {}
        text = extended.get("full_text") if tweet.get("truncated") and extended else tweet.get("text")
        mentions = (extended.get("entities") or tweet.get("entities") or {}).get("user_mentions") or []
        parent = tweet.get("in_reply_to_status_id_str")
        quoted = tweet.get("quoted_status_id_str") or (tweet.get("quoted_status") or {}).get("id_str")
        if parent:
            kind = "comment"
        elif quoted:
            kind, parent = "mention", str(quoted)
        elif account and any(str(m.get("id_str")) == account for m in mentions):
            kind = "mention"
        else:
            kind = "post"
        moment = _tweet_time(tweet)
        return self.interaction(
            connector,
            original,
            key=_post_key(original),
            also_keys=[_post_key(version) for version in _version_ids(tweet) if version != original],
            kind=kind,
            event_id=f"tweet_create:{tweet_id}",
            event_type="tweet_edit" if original != tweet_id else "tweet_create",
            occurred_at=moment,
            updated_at=moment if original != tweet_id else None,
            text=text,
            url=f"https://x.com/{user['screen_name']}/status/{tweet_id}",
            author=Author(
                handle=user.get("screen_name"),
                provider_user_id=user_id,
                display_name=user.get("name"),
                followers=user.get("followers_count"),
            ),
            language=tweet.get("lang") if tweet.get("lang") not in (None, "und") else None,
            thread_id=parent or original,
            parent_id=parent,
            public=True,
        )

    def _repost(self, tweet: dict[str, Any], connector) -> Interaction:
        tweet_id, reposted = str(tweet["id_str"]), str(tweet["retweeted_status"]["id_str"])
        user = tweet["user"]
        return self.interaction(
            connector,
            tweet_id,
            kind="repost",
            event_id=f"tweet_create:{tweet_id}",
            event_type="repost",
            occurred_at=_tweet_time(tweet),
            url=f"https://x.com/{user['screen_name']}/status/{tweet_id}",
            author=_author(user),
            thread_id=reposted,
            parent_id=reposted,
            public=True,
        )

    def _deletion(self, event: dict[str, Any], account: str, connector, data: Any) -> Interaction | Skipped:
        status = event["status"]
        tweet_id = str(status["id"])
        if str(status["user_id"]) == account:
            return Skipped("own_account", "the account's own tweets are never stored", tweet_id)
        deleted_at = utc_from_epoch(event["timestamp_ms"], "ms")
        return self.interaction(
            connector,
            tweet_id,
            key=_post_key(tweet_id),  # an edited post's later version id finds it by its alias
            kind="post",
            event_id=f"tweet_delete:{tweet_id}",
            event_type="tweet_delete",
            occurred_at=deleted_at,
            updated_at=deleted_at,
            author=Author(provider_user_id=str(status["user_id"])),
            deleted=True,
            public=True,
        )

    def _favorite(self, event: dict[str, Any], account: str, connector, data: Any) -> Interaction | Skipped:
        user, liked = event["user"], event["favorited_status"]
        user_id, liked_id = str(user["id_str"]), str(liked["id_str"])
        if user_id == account:
            return Skipped("own_account", "a like by the subscribed account itself", str(event["id"]))
        external = f"favorite:{user_id}:{liked_id}"  # one like per user and post, whatever the event id
        return self.interaction(
            connector,
            external,
            kind="mention",
            event_id=f"favorite:{event['id']}",
            event_type="favorite",
            occurred_at=utc_from_epoch(event["timestamp_ms"], "ms"),
            url=f"https://x.com/i/web/status/{liked_id}",
            author=_author(user),
            thread_id=liked_id,
            parent_id=liked_id,
            public=True,
        )

    def _direct_message(
        self, event: dict[str, Any], account: str, connector, data: dict[str, Any]
    ) -> Interaction | Skipped:
        users = data.get("users")
        if not isinstance(users, dict):
            users = {}
        if event.get("type") != "message_create":
            return Skipped("unsupported_event", f"direct message event {event.get('type')}", event.get("id"))
        created = event["message_create"]
        message_id, sender = str(event["id"]), str(created["sender_id"])
        if sender == account:
            return Skipped("own_account", "a message sent by the subscribed account", message_id)
        user = users.get(sender) or {"id": sender}
        return self.interaction(
            connector,
            f"dm:{message_id}",
            kind="direct_message",
            event_id=f"direct_message:{message_id}",
            event_type="direct_message",
            occurred_at=utc_from_epoch(event["created_timestamp"], "ms"),
            text=(created.get("message_data") or {}).get("text"),
            author=_author({**user, "id_str": str(user.get("id_str") or user.get("id") or sender)}),
            thread_id=f"dm:{sender}",
            public=False,
        )

    # Account Activity API: delivery key -> the parser of each event in its list
    events = {
        "tweet_create_events": _tweet,
        "tweet_delete_events": _deletion,
        "favorite_events": _favorite,
        "direct_message_events": _direct_message,
    }


def _keys(connector) -> tuple[str | None, str | None]:
    """(OAuth 2.0 client secret, consumer secret) of the connector; either may be absent."""
    if connector.options.oauth2_signature:
        return connector.secret("signing"), None
    oauth2 = (
        connector.secret("oauth2_client_secret") if connector.has_secret("oauth2_client_secret") else None
    )
    return oauth2, connector.secret("signing")


def _author(user: dict[str, Any]) -> Author:
    return Author(
        handle=user.get("screen_name"),
        provider_user_id=str(user["id_str"]),
        display_name=user.get("name"),
        followers=user.get("followers_count"),
    )


def _initial_tweet_id(tweet: dict[str, Any]) -> str:
    """The id of the first version of an edited post (the post's own id when never edited)."""
    history = tweet.get("edit_history")
    if isinstance(history, dict) and history.get("initial_tweet_id"):
        return str(history["initial_tweet_id"])
    versions = tweet.get("edit_history_tweet_ids")
    if isinstance(versions, list) and versions:
        return str(versions[0])
    return str(tweet["id_str"])


def _version_ids(tweet: dict[str, Any]) -> list[str]:
    """Every id the post has had: v1.1 `edit_history.edit_tweet_ids`, v2 `edit_history_tweet_ids`."""
    history = tweet.get("edit_history")
    versions = history.get("edit_tweet_ids") if isinstance(history, dict) else None
    if not isinstance(versions, list):
        versions = tweet.get("edit_history_tweet_ids")
    return [str(v) for v in versions or []] + [str(tweet["id_str"])]


def _post_key(tweet_id: str) -> str:
    """The platform's object id: one interaction per post, whichever connector delivers it."""
    return f"x:post:{tweet_id}"


def _tweet_time(tweet: dict[str, Any]) -> datetime:
    if tweet.get("timestamp_ms"):
        return utc_from_epoch(tweet["timestamp_ms"], "ms")
    return datetime.strptime(tweet["created_at"], X_TIME_FORMAT)
