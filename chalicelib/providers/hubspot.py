"""HubSpot: contact change webhooks in, advocate records out.

Source: a JSON array of events, signed with v3: base64(HMAC-SHA256(client_secret,
method + URI + body + timestamp)), `X-HubSpot-Request-Timestamp` in ms, at most 5 minutes
old. The URI is the one HubSpot called: `options.public_url` when a proxy or API stage
sits in between. https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests
Sink: a contact Chorus knows (its object id returned by a write or notified) is written by id,
POST /crm/v3/objects/contacts/batch/update (no idProperty: `id` is the object id), so an email
changed in HubSpot stays changed and no second contact appears; one HubSpot deleted answers
OBJECT_NOT_FOUND and is reported gone. Others: POST .../batch/upsert with idProperty=email
(HubSpot matches the unique email, creates only when none has it). 100 inputs a call.
Deletions: contact.deletion and contact.privacyDeletion drop the link (pipeline/crm_records.py),
contact.restore lifts it, contact.merge moves the person onto the surviving contact.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import MalformedPayload
from ..schema import AdvocateRecord, Author, CrmChange, Interaction
from .base import Delivery, ParseContext, SinkResult, Skipped, utc_from_epoch
from .crm_common import CreateClaims, upsert_each, write_records
from .entries import guarded, guarded_all
from .http import Throttle, json_object, raise_for_permanent, retry_after_seconds
from .oauth import TokenRequest, authorized_call, refresh_token_grant
from .signatures import check_timestamp, parse_timestamp, sign, verify_hmac
from .sink import Sink
from .source import SignedTestDelivery, Source

MAX_AGE_SECONDS = 300
TEN_SECONDS = 10.0  # HubSpot's burst window (TEN_SECONDLY_ROLLING)
# HubSpot's doc: decode these percent-encodings in the URI before signing.
URI_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
CONTACT_OBJECT_TYPE = "0-1"  # objectTypeId of contacts in generic `object.*` subscriptions
CONTACT_EVENTS = (
    "contact.creation",
    "contact.propertyChange",
    "contact.deletion",
    "contact.restore",
    "contact.merge",
    "contact.privacyDeletion",
    "contact.associationChange",
)


PROPERTY_TYPES = {
    "advocate_score": ("number", "number"),
    "latest_nps": ("number", "number"),
    "sentiment": ("number", "number"),
    "last_interaction_at": ("datetime", "date"),
}


class HubSpotOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(default="https://api.hubapi.com", pattern=r"^https?://")
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="The webhook URL as HubSpot calls it, if a proxy rewrites it.",
    )
    token_url: str = Field(
        default="https://api.hubapi.com/oauth/v1/token",
        pattern=r"^https://",
        description="OAuth app: where the refresh_token grant is posted.",
    )
    timezone: str = Field(
        default="UTC",
        description="The HubSpot account's time zone (IANA name): its daily API limit resets at "
        "midnight there.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
        return value


class HubSpotThrottle(Throttle):
    """HubSpot names the limit a 429 hit (`policyName`): DAILY rests the account until midnight
    in the account's time zone (retrying sooner only spends calls); the 10-second window rests
    for its Retry-After, else one window. A call answered with X-HubSpot-RateLimit-Daily-Remaining
    0 rests the account until that midnight too.
    https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines"""

    def throttled(self, response, connector) -> float | None:
        if response.status_code != 429:
            return None
        if str(json_object(response).get("policyName") or "").upper() == "DAILY":
            return seconds_to_midnight(connector.options.timezone)
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        return TEN_SECONDS if wait is None else wait

    def exhausted(self, response, connector) -> float | None:
        remaining = response.headers.get("X-HubSpot-RateLimit-Daily-Remaining")
        if remaining is not None and remaining.strip() == "0":
            return seconds_to_midnight(connector.options.timezone)
        return None


def seconds_to_midnight(zone: str, now: datetime | None = None) -> float:
    """Seconds until the next midnight in `zone` (at least one, so a block is never zero)."""
    local = (now or datetime.now(UTC)).astimezone(ZoneInfo(zone))
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=local.tzinfo)
    return max(1.0, (midnight - local).total_seconds())


# subscription type -> the record's life event (CrmChange.event)
RECORD_EVENTS = {
    "contact.deletion": "delete",
    "contact.privacyDeletion": "privacy_delete",
    "contact.restore": "restore",
    "contact.merge": "merge",
}


def signed_uri(request, public_url: str | None) -> str:
    uri = request.url
    if public_url:
        query = urlencode(request.query) if request.query else ""
        uri = public_url + (f"?{query}" if query else "")
    for encoded, char in URI_DECODE.items():
        uri = uri.replace(encoded, char).replace(encoded.lower(), char)
    return uri


class HubSpotProvider(Source, Sink):
    name = "hubspot"
    Options = HubSpotOptions
    batch_max = 100
    rate_limit = (100, 10.0)  # private apps: 100 requests per 10 s per account (higher tiers allow more)
    throttle = HubSpotThrottle()
    # sink: a private-app `access_token`, or an OAuth app's `client_id` + `refresh_token` (the
    # client secret is `client_secret`, else `signing`: HubSpot signs webhooks with it too)
    required_secrets = {"signing": "source"}
    default_mapping = {
        "advocate_score": "chorus_advocate_score",
        "advocate_tier": "chorus_advocate_tier",
        "latest_nps": "chorus_latest_nps",
        "sentiment": "chorus_sentiment",
        "x_handle": "chorus_x_handle",
        "last_mention_url": "chorus_last_mention_url",
        "last_interaction_at": "chorus_last_interaction_at",
    }

    def validate_config(self, config, options) -> list[tuple[str, str]]:
        secrets = config.secrets
        if not config.is_sink or "access_token" in secrets:
            return []
        if "client_id" in secrets and "refresh_token" in secrets:
            if "client_secret" in secrets or "signing" in secrets:
                return []
            return [("secrets.client_secret", "an OAuth app needs its client secret")]
        return [("secrets.access_token", "a private-app token, or client_id + refresh_token of an OAuth app")]

    def grant(self, connector) -> TokenRequest:
        """OAuth app: the refresh_token grant; its access token lasts 30 minutes (`expires_in`),
        cached and renewed before it ends. Private app: the static token."""
        if not connector.has_secret("refresh_token"):
            return TokenRequest("static", static=connector.secret("access_token"))
        secret = "client_secret" if connector.has_secret("client_secret") else "signing"
        return refresh_token_grant(
            connector.options.token_url,
            connector.secret("client_id"),
            connector.secret(secret),
            connector.secret("refresh_token"),
        )

    # ---- source -------------------------------------------------------------------------
    def verify(self, request, connector, now) -> None:
        raw_timestamp = request.header("x-hubspot-request-timestamp")
        check_timestamp(parse_timestamp(raw_timestamp, "ms"), now, MAX_AGE_SECONDS)
        signature = request.header("x-hubspot-signature-v3")
        message = (
            request.method.upper()
            + signed_uri(request, connector.options.public_url)
            + request.body.decode("utf-8", errors="replace")
            + (raw_timestamp or "").strip()
        )
        verify_hmac(signature, key=connector.secret("signing"), message=message, encoding="base64")

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        stamp = str(int(now * 1000))
        message = "POST" + (connector.options.public_url or url) + body.decode("utf-8", "replace") + stamp
        return SignedTestDelivery(
            {
                "content-type": "application/json",
                "x-hubspot-signature-v3": sign(connector.secret("signing"), message, encoding="base64"),
                "x-hubspot-request-timestamp": stamp,
            }
        )

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        events = delivery.json()
        if not isinstance(events, list):
            raise MalformedPayload("a HubSpot delivery is a JSON array of events")
        items: list[Interaction | Skipped] = []
        for event in events:
            item = self._event(event, delivery.connector)
            items += item if isinstance(item, list) else [item]
        return items

    def _event(self, event: Any, connector) -> Interaction | Skipped | list[Interaction | Skipped]:
        if not isinstance(event, dict) or "eventId" not in event or "objectId" not in event:
            return Skipped("malformed_entry", "event without eventId/objectId")
        kind = str(event.get("subscriptionType", ""))
        if kind.startswith("object."):  # generic subscriptions: the object type is a field
            object_type = str(event.get("objectTypeId", ""))
            if object_type != CONTACT_OBJECT_TYPE:
                return Skipped("unsupported_event", f"{kind} {object_type}", str(event["eventId"]))
            kind = "contact." + kind.removeprefix("object.")  # one meaning, whichever format
        handler = self.handler_for(kind)
        if handler is None:
            return Skipped("unsupported_event", kind, str(event["eventId"]))
        return handler(event, kind, connector)

    def _one_change(self, event: dict[str, Any], kind: str, connector) -> Interaction | Skipped:
        return guarded(lambda e: self._change(e, kind, connector), event, str(event["eventId"]))

    def _merged(self, event: dict[str, Any], kind: str, connector) -> list[Interaction | Skipped]:
        return guarded_all(lambda e: self._merge(e, connector), event, str(event["eventId"]))

    def _merge(self, event: dict[str, Any], connector) -> list[Interaction]:
        """contact.merge: each merged-away contact now lives on as the surviving one (the new
        object when HubSpot made one, else the primary)."""
        survivor = str(event.get("newObjectId") or event["primaryObjectId"])
        losers = [str(i) for i in event.get("mergedObjectIds") or []]
        losers += [str(event["primaryObjectId"])] if str(event["primaryObjectId"]) != survivor else []
        if not losers:
            raise ValueError("contact.merge without mergedObjectIds")
        return [
            self._change({**event, "objectId": loser}, "contact.merge", connector, survivor)
            for loser in losers
        ]

    def _change(
        self, event: dict[str, Any], kind: str, connector, merged_into: str | None = None
    ) -> Interaction:
        """One property change or record event; a shape error (e.g. no occurredAt) skips this
        event only."""
        object_id = str(event["objectId"])
        # HubSpot does not promise eventId is unique on its own; with the object and time it is.
        event_id = f"{event['eventId']}:{object_id}:{event.get('occurredAt')}"
        prop, value = event.get("propertyName"), event.get("propertyValue")
        return self.interaction(
            connector,
            f"event:{event_id}",
            kind="crm_update",
            event_id=event_id,
            event_type=kind,
            occurred_at=utc_from_epoch(event["occurredAt"], "ms"),
            author=Author(provider_user_id=object_id, email=value if prop == "email" and value else None),
            crm_change=CrmChange(
                object_id=object_id,
                change_type=kind,
                property=prop,
                value=None if value is None else str(value),
                source=event.get("changeSource"),
                event=RECORD_EVENTS.get(kind, "change"),
                merged_into=merged_into,
            ),
            public=False,
        )

    # ---- sink ---------------------------------------------------------------------------
    def upsert(
        self, records: list[AdvocateRecord], connector, http, claims: CreateClaims | None = None
    ) -> list[SinkResult]:
        """Known contacts by object id (batch/update), the others by email (batch/upsert: HubSpot
        matches its unique email itself, and creates only when no contact has it)."""
        return write_records(
            records,
            connector,
            update=lambda pairs: self._write([r for r, _ in pairs], connector, http, by_id=True),
            create=lambda new: self._write(new, connector, http, by_id=False),
            no_email="no email to upsert on",
        )

    def _write(self, records: list[AdvocateRecord], connector, http, *, by_id: bool) -> list[SinkResult]:
        """One batch call. A 400 for a batch is split so one bad record fails alone."""
        inputs = [
            {
                **({"id": r.crm_ids[connector.id]} if by_id else {"idProperty": "email", "id": r.email}),
                "objectWriteTraceId": r.person_id,
                "properties": self._properties(r, connector),
            }
            for r in records
        ]
        response = authorized_call(
            http,
            "POST",
            f"{connector.options.base_url}/crm/v3/objects/contacts/batch/{'update' if by_id else 'upsert'}",
            connector_id=connector.id,
            grant=self.grant(connector),
            headers={"Content-Type": "application/json"},
            json={"inputs": inputs},
        )
        if response.status_code == 400 and len(records) > 1:
            # isolate the record(s) HubSpot rejects: one call each, each charged to the budget
            return upsert_each(records, lambda r: self._write([r], connector, http, by_id=by_id)[0])
        if by_id and response.status_code == 404:  # every contact named is gone
            return [SinkResult(r.person_id, ok=False, gone=True, error="deleted in HubSpot") for r in records]
        if response.status_code in (400, 409, 422):
            return [SinkResult(r.person_id, ok=False, error=_message(response)) for r in records]
        raise_for_permanent(response, f"HubSpot batch {'update' if by_id else 'upsert'}")
        return self._read_results(response.json(), records, connector, by_id)

    def setup(self, connector, http) -> list[str]:
        """Create the `chorus` property group and one contact property per mapped field (409: exists)."""
        base = f"{connector.options.base_url}/crm/v3/properties/contacts"
        auth = {"connector_id": connector.id, "grant": self.grant(connector)}
        done = []
        group = authorized_call(
            http,
            "POST",
            f"{base}/groups",
            **auth,
            json={"name": "chorus", "label": "Chorus advocacy", "displayOrder": -1},
        )
        if group.status_code not in (200, 201, 409):
            raise_for_permanent(group, "HubSpot property group")
        for field, name in self.mapping(connector).items():
            if not name:
                continue
            kind, field_type = PROPERTY_TYPES.get(field, ("string", "text"))
            response = authorized_call(
                http,
                "POST",
                base,
                **auth,
                json={
                    "name": name,
                    "label": name.replace("_", " ").capitalize(),
                    "type": kind,
                    "fieldType": field_type,
                    "groupName": "chorus",
                    "description": f"Chorus: {field}",
                },
            )
            if response.status_code == 409:
                done.append(f"{name}: already exists")
            else:
                raise_for_permanent(response, f"HubSpot property {name}")
                done.append(f"{name}: created")
        return done

    def _properties(self, record: AdvocateRecord, connector) -> dict[str, str]:
        return {k: str(v) for k, v in self.properties_for(record, connector).items()}

    def _read_results(
        self, body: dict[str, Any], records: list[AdvocateRecord], connector, by_id: bool
    ) -> list[SinkResult]:
        """Results are matched by object id (updates), else by the echoed objectWriteTraceId or
        email; errors by context ids (object ids or emails) or objectWriteTraceId."""
        by_key = (
            {r.crm_ids[connector.id]: r for r in records}
            if by_id
            else {r.email.lower(): r for r in records if r.email}
        )
        by_trace = {r.person_id: r for r in records}
        out: dict[str, SinkResult] = {}
        for result in body.get("results") or []:
            email = str((result.get("properties") or {}).get("email") or "").lower()
            record = by_key.get(str(result.get("id")) if by_id else email) or by_trace.get(
                str(result.get("objectWriteTraceId", ""))
            )
            if record is None:
                continue
            out[record.person_id] = SinkResult(
                record.person_id,
                ok=True,
                crm_id=str(result.get("id")),
                created=bool(result.get("new")),
                written=self._properties(record, connector),
            )
        for error in body.get("errors") or []:
            context = error.get("context") or {}
            traces = context.get("objectWriteTraceId") or []
            ids = [
                str(v) if by_id else str(v).lower() for v in (context.get("ids") or context.get("id") or [])
            ]
            gone = by_id and error.get("category") == "OBJECT_NOT_FOUND"
            for record in [by_trace[t] for t in traces if t in by_trace] + [
                by_key[i] for i in ids if i in by_key
            ]:
                status = int(error.get("status") or 0) if str(error.get("status", "")).isdigit() else 0
                out[record.person_id] = SinkResult(
                    record.person_id,
                    ok=False,
                    gone=gone,
                    error=error.get("message") or error.get("category"),
                    retryable=status in (429, 500, 502, 503, 504) or error.get("category") == "RATE_LIMITS",
                )
        return list(out.values())

    # subscription type (contact.* or object.* of a contact) -> its handler
    events = {**dict.fromkeys(CONTACT_EVENTS, _one_change), "contact.merge": _merged}


def _message(response) -> str:
    try:
        return str(response.json().get("message") or response.text[:300])
    except ValueError:
        return response.text[:300]
