"""X (Twitter) Account Activity API: tweets that mention, reply to or quote the account.

CRC: GET ?crc_token=T -> {"response_token": "sha256=" + base64(HMAC-SHA256(consumer_secret, T))}.
Signature: `x-twitter-webhooks-signature: sha256=` + base64(HMAC-SHA256(consumer_secret, body)).
A delivery holds event arrays keyed by type (`tweet_create_events`, ...) for `for_user_id`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from ..errors import HandshakeRejected, MalformedPayload
from ..schema import Author, Interaction
from .base import (Delivery, ParseContext, Provider, Skipped, WebResponse, interaction_id,
                   utc_from_epoch)
from .signatures import sign, verify_hmac

X_TIME_FORMAT = "%a %b %d %H:%M:%S %z %Y"


class XProvider(Provider):
    name = "x"
    is_source = True
    handshake_methods = ("GET",)
    required_secrets = {"signing": "source"}

    def handshake(self, request, connector) -> WebResponse | None:
        token = request.query.get("crc_token")
        if not token:
            raise HandshakeRejected("GET needs a crc_token query parameter")
        digest = sign(connector.secret("signing"), token, encoding="base64", prefix="sha256=")
        return WebResponse(200, {"response_token": digest})

    def verify(self, request, connector, now) -> None:
        verify_hmac(request.header("x-twitter-webhooks-signature"), key=connector.secret("signing"),
                    message=request.body, encoding="base64", prefix="sha256=")

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        data = delivery.json()
        if not isinstance(data, dict):
            raise MalformedPayload("an Account Activity delivery is a JSON object")
        account = str(data.get("for_user_id") or "")
        results: list[Interaction | Skipped] = []
        for key, events in data.items():
            if key == "tweet_create_events" and isinstance(events, list):
                results += [self._guard(self._tweet, event, account, delivery) for event in events]
            elif key == "tweet_delete_events" and isinstance(events, list):
                results += [self._guard(self._deletion, event, account, delivery) for event in events]
            elif key.endswith("_events"):
                results.append(Skipped("unsupported_event", key))
        return results

    @staticmethod
    def _guard(parse_one, event: Any, account: str, delivery: Delivery) -> Interaction | Skipped:
        """One bad entry never costs the good ones of the same delivery."""
        try:
            return parse_one(event, account, delivery.connector)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            event_id = event.get("id_str") if isinstance(event, dict) else None
            return Skipped("malformed_entry", f"{type(exc).__name__}: {exc}", event_id)

    def _tweet(self, tweet: dict[str, Any], account: str, connector) -> Interaction | Skipped:
        user = tweet["user"]
        tweet_id, user_id = str(tweet["id_str"]), str(user["id_str"])
        if user_id == account:
            return Skipped("own_account", "tweet by the subscribed account itself", tweet_id)
        extended = tweet.get("extended_tweet") or {}
        text = extended.get("full_text") if tweet.get("truncated") and extended else tweet.get("text")
        mentions = (extended.get("entities") or tweet.get("entities") or {}).get("user_mentions") or []
        parent = tweet.get("in_reply_to_status_id_str")
        if parent:
            kind = "comment"
        elif account and any(str(m.get("id_str")) == account for m in mentions):
            kind = "mention"
        else:
            kind = "post"
        return Interaction(
            interaction_id=interaction_id(connector.id, tweet_id), connector_id=connector.id,
            provider=self.name, kind=kind, external_id=tweet_id, event_id=f"tweet_create:{tweet_id}",
            event_type="tweet_create", occurred_at=_tweet_time(tweet), text=text,
            url=f"https://x.com/{user['screen_name']}/status/{tweet_id}",
            author=Author(handle=user.get("screen_name"), provider_user_id=user_id,
                          display_name=user.get("name"), followers=user.get("followers_count")),
            language=tweet.get("lang") if tweet.get("lang") not in (None, "und") else None,
            thread_id=parent or tweet_id, parent_id=parent, public=True)

    def _deletion(self, event: dict[str, Any], account: str, connector) -> Interaction | Skipped:
        status = event["status"]
        tweet_id = str(status["id"])
        if str(status["user_id"]) == account:
            return Skipped("own_account", "the account's own tweets are never stored", tweet_id)
        deleted_at = utc_from_epoch(event["timestamp_ms"], "ms")
        return Interaction(
            interaction_id=interaction_id(connector.id, tweet_id), connector_id=connector.id,
            provider=self.name, kind="post", external_id=tweet_id, event_id=f"tweet_delete:{tweet_id}",
            event_type="tweet_delete", occurred_at=deleted_at, updated_at=deleted_at,
            author=Author(provider_user_id=str(status["user_id"])), deleted=True, public=True)


def _tweet_time(tweet: dict[str, Any]) -> datetime:
    if tweet.get("timestamp_ms"):
        return utc_from_epoch(tweet["timestamp_ms"], "ms")
    return datetime.strptime(tweet["created_at"], X_TIME_FORMAT)
