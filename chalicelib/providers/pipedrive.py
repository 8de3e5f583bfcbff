"""Pipedrive: webhooks v2 in, persons out (search by email, then update or create).

Source: POST /v1/webhooks with version "2.0", event_object person, http_auth_user /
http_auth_password. Pipedrive does not sign; it sends `Authorization: Basic` with those
credentials: user = options.username, password = secrets.signing (constant time, 401 when
missing or wrong). Body {meta{action, entity, id, entity_id, timestamp, change_source, ...},
data, previous}; `previous` holds only the changed fields, so each becomes one crm_change.
A `delete` (data null, previous the person's last state) is a deletion; one done by a merge
carries meta.merged_to_id and moves the person onto the surviving id (pipeline/crm_records.py).
Only webhooks v2 are read (v1 bodies have no meta.entity: skipped as unsupported).
https://pipedrive.readme.io/docs/guide-for-webhooks-v2
Sink: persons have no upsert (crm_common.write_each). The person id Chorus stored
(record.crm_ids) is used first, PATCH /api/v2/persons/{id}: a 404 there is a person deleted in
Pipedrive, reported gone (never searched for again: on_crm_delete decides). Otherwise
GET /api/v2/persons/search?term=<email>&fields=email&exact_match=true, then PATCH the person
found or POST /api/v2/persons.
The search lags a create by seconds, so a create is claimed first (crm_common.CreateClaims,
per connector and email): a second sync of the same new person updates the id the first one
recorded, or is retried later while that create is in flight. A POST is sent once: after a
timeout or 5xx the person may exist, and the retry (after the claim's lease) searches first.
Chorus fields are Pipedrive custom fields, keyed by their 40-character field key.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import MalformedPayload, SignatureMissing, UpstreamError
from ..schema import AdvocateRecord, Author, CrmChange, Interaction
from .base import Delivery, ParseContext, SinkResult, Skipped, parse_iso, utc_from_epoch
from .crm_common import CreateClaims, canonical, canonical_map, mapped_properties, mapping, write_each
from .entries import guarded
from .http import call_api, json_object
from .signatures import verify_shared_secret
from .sink import Sink
from .source import SignedTestDelivery, Source

SYSTEM_FIELDS = {
    "id",
    "update_time",
    "add_time",
    "owner_id",
    "org_id",
    "label_ids",
    "picture_id",
    "visible_to",
}


class PipedriveOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(
        default="https://api.pipedrive.com",
        pattern=r"^https://",
        description="https://<company>.pipedrive.com",
    )
    username: str | None = Field(default=None, description="The webhook's http_auth_user.")


class PipedriveProvider(Source, Sink):
    name = "pipedrive"
    Options = PipedriveOptions
    batch_max = 20  # one to three calls per person: Pipedrive has no batch write for persons
    required_secrets = {"signing": "source", "access_token": "sink"}
    # Chorus field -> custom field key (Settings > Data fields > person field > API key)
    default_mapping = {}

    def validate_config(self, config, options) -> list[tuple[str, str]]:
        problems = []
        if config.is_source and not options.username:
            problems.append(("options.username", "the webhook's basic-auth user name is required"))
        if config.is_sink and not any(mapping(self, config).values()):
            problems.append(("mapping", "map Chorus fields to person custom field keys"))
        return problems

    # ---- source -------------------------------------------------------------------------
    def verify(self, request, connector, now) -> None:
        scheme, _, encoded = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise SignatureMissing("HTTP basic authorization is missing")
        try:
            user, _, password = (
                base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise SignatureMissing("HTTP basic authorization is not base64(user:password)") from None
        verify_shared_secret(user, connector.options.username or "", "basic-auth user")
        verify_shared_secret(password, connector.secret("signing"), "basic-auth password")

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        credentials = f"{connector.options.username or ''}:{connector.secret('signing')}"
        basic = "Basic " + base64.b64encode(credentials.encode()).decode()
        return SignedTestDelivery({"content-type": "application/json", "authorization": basic})

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        body = delivery.json()
        meta = body.get("meta") if isinstance(body, dict) else None
        if not isinstance(meta, dict) or not meta.get("id"):
            raise MalformedPayload("a Pipedrive webhook v2 has a meta block with an id")
        event_id, action, entity = str(meta["id"]), str(meta.get("action")), str(meta.get("entity"))
        if entity != "person" or action not in ("create", "change", "delete"):
            return [Skipped("unsupported_event", f"{entity}.{action}", event_id)]
        if action == "delete":
            return [guarded(lambda b: self._deletion(meta, b, delivery), body, event_id)]
        data = body.get("data")
        if not isinstance(data, dict) or not data.get("id"):
            return [Skipped("malformed_entry", "person event without data.id", event_id)]
        try:
            current, previous = _flatten(data), _flatten(body.get("previous") or {})
        except (AttributeError, TypeError, ValueError) as exc:  # e.g. custom_fields not an object
            return [Skipped("malformed_entry", f"person is not in Pipedrive's shape: {exc!r}", event_id)]
        mapped = mapped_properties(self, delivery.connector)
        changed: list[str | None]
        if action == "change":
            changed = [k for k in previous if k not in SYSTEM_FIELDS] or [None]
        else:  # a create: echo-checkable on the first Chorus field it carries
            changed = [next((p for p in mapped if current.get(p) not in (None, "")), None)]
        return [
            guarded(lambda p: self._change(meta, data, current, p, delivery), prop, event_id)
            for prop in changed
        ]

    def _deletion(self, meta, body, delivery) -> Interaction:
        """A person deleted in Pipedrive; deleted by a merge (meta.merged_to_id), it lives on as
        the surviving person."""
        last = body.get("previous") if isinstance(body.get("previous"), dict) else {}
        person_id = str(meta.get("entity_id") or last.get("id") or "")
        if not person_id:
            raise ValueError("delete event without meta.entity_id")
        survivor = str(meta["merged_to_id"]) if meta.get("merged_to_id") else None
        return self.interaction(
            delivery.connector,
            f"event:{meta['id']}",
            kind="crm_update",
            event_id=str(meta["id"]),
            event_type="person.merge" if survivor else "person.delete",
            occurred_at=_occurred(meta, delivery),
            author=Author(provider_user_id=person_id),
            crm_change=CrmChange(
                object_id=person_id,
                change_type="delete",
                source=meta.get("change_source"),
                event="merge" if survivor else "delete",
                merged_into=survivor,
            ),
            public=False,
        )

    def _change(self, meta, data, current, prop, delivery) -> Interaction:
        connector = delivery.connector
        event_id = f"{meta['id']}:{prop or '-'}"
        occurred = _occurred(meta, delivery)
        return self.interaction(
            connector,
            f"event:{event_id}",
            kind="crm_update",
            event_id=event_id,
            event_type=f"person.{meta.get('action')}",
            occurred_at=occurred,
            author=Author(
                provider_user_id=str(data["id"]),
                email=_primary_email(data),
                display_name=data.get("name") or None,
            ),
            crm_change=CrmChange(
                object_id=str(data["id"]),
                change_type=str(meta.get("action")),
                property=prop,
                value=canonical(current.get(prop)) if prop else None,
                source=meta.get("change_source"),
            ),
            public=False,
        )

    # ---- sink ---------------------------------------------------------------------------
    def upsert(
        self, records: list[AdvocateRecord], connector, http, claims: CreateClaims | None = None
    ) -> list[SinkResult]:
        if claims is None:
            raise TypeError("Pipedrive creates by search: upsert() needs the engine's create claims")
        return write_each(
            records,
            connector,
            update_one=lambda record, person_id: self._patch(record, person_id, connector, http),
            match_one=lambda record: self._search(record.email, connector, http),
            create_one=lambda record: self._create(record, connector, http, claims),
            no_email="no email to find or create the person",
        )

    def _patch(self, record: AdvocateRecord, person_id: str, connector, http) -> SinkResult:
        """PATCH the person by id; a 404 is a person that is gone (deleted, or merged away)."""
        fields = self.properties_for(record, connector)
        response = self._call(
            connector, http, "PATCH", f"/api/v2/persons/{person_id}", json={"custom_fields": fields}
        )
        if response.status_code == 404:
            return SinkResult(record.person_id, ok=False, gone=True, error="deleted in Pipedrive")
        return self._result(record, response, canonical_map(fields), created=False)

    def _create(self, record: AdvocateRecord, connector, http, claims: CreateClaims) -> SinkResult:
        """No person has the email: claim its create (the search lags creates), then POST."""
        email = record.email
        assert email is not None  # write_records creates only records with an email
        claim = claims.claim(connector.id, email)
        if claim.crm_id:  # another sync created the person meanwhile: update that one
            result = self._patch(record, claim.crm_id, connector, http)
            result.retryable, result.gone = result.retryable or result.gone, False  # searched anew
            return result
        if not claim.taken:
            return SinkResult(
                record.person_id,
                ok=False,
                retryable=True,
                retry_after=claim.wait_seconds,
                error="another sync is creating this person: retried when its claim ends",
            )
        fields = self.properties_for(record, connector)
        written = canonical_map(fields)
        response = self._call(
            connector,
            http,
            "POST",
            "/api/v2/persons",
            attempts=1,
            json={
                "name": record.display_name or record.email,
                "emails": [{"value": record.email, "primary": True, "label": "work"}],
                "custom_fields": fields,
            },
        )
        result = self._result(record, response, written, created=True)
        if result.ok and result.crm_id:
            claims.record(connector.id, email, result.crm_id)
        return result

    def _search(self, email: str, connector, http) -> str | None:
        response = self._call(
            connector,
            http,
            "GET",
            "/api/v2/persons/search",
            params={"term": email, "fields": "email", "exact_match": "true", "limit": 2},
        )
        if response.status_code >= 400:
            raise UpstreamError(
                f"Pipedrive person search: HTTP {response.status_code} {_error(response)}",
                retryable=response.status_code >= 500,
                status=response.status_code,
            )
        items = ((json_object(response).get("data") or {}).get("items")) or []
        ids = sorted(
            int(i["item"]["id"]) for i in items if isinstance(i, dict) and (i.get("item") or {}).get("id")
        )
        return str(ids[0]) if ids else None  # several matches: the oldest person wins, every time

    def _call(self, connector, http, method: str, path: str, **kwargs) -> Any:
        return call_api(
            http,
            method,
            connector.options.base_url.rstrip("/") + path,
            headers={"x-api-token": connector.secret("access_token"), "Accept": "application/json"},
            **kwargs,
        )

    def _result(self, record, response, written, *, created: bool) -> SinkResult:
        if response.status_code < 300:
            person = json_object(response).get("data")
            crm_id = person.get("id") if isinstance(person, dict) else None
            return SinkResult(
                record.person_id,
                ok=True,
                crm_id=str(crm_id) if crm_id else None,
                created=created,
                written=written,
            )
        if response.status_code == 401:
            raise UpstreamError("Pipedrive rejected the API token", retryable=False, status=401)
        return SinkResult(
            record.person_id,
            ok=False,
            retryable=response.status_code >= 500,
            error=f"HTTP {response.status_code} {_error(response)}",
        )


def _occurred(meta: dict[str, Any], delivery: Delivery):
    """meta.timestamp: epoch seconds or ISO (both are seen), else the time it arrived."""
    try:
        stamp = str(meta.get("timestamp"))
        return utc_from_epoch(stamp) if stamp.isdigit() else parse_iso(stamp)
    except (TypeError, ValueError):
        return delivery.received_at


def _flatten(person: dict[str, Any]) -> dict[str, Any]:
    """Top-level fields plus custom_fields by key; typed custom values {type, value} unwrapped."""
    out = {k: v for k, v in person.items() if k != "custom_fields"}
    for key, value in (person.get("custom_fields") or {}).items():
        out[key] = value.get("value") if isinstance(value, dict) and "value" in value else value
    return out


def _primary_email(person: dict[str, Any]) -> str | None:
    emails = person.get("emails") or person.get("email") or []
    if isinstance(emails, str):
        return emails or None
    chosen = next(
        (e for e in emails if isinstance(e, dict) and e.get("primary")), emails[0] if emails else None
    )
    value = chosen.get("value") if isinstance(chosen, dict) else chosen
    return str(value) if value else None


def _error(response) -> str:
    body = json_object(response)
    return str(body.get("error") or body.get("message") or response.text[:200])
