"""Zoho CRM: Notification API callbacks in, Contacts upsert out.

Source: a channel created with POST {api-domain}/crm/v8/actions/watch (events Contacts.all,
a `token` of up to 50 characters, notify_url = /webhooks/<connector id>). Each callback is JSON
{server_time, module, resource_uri, ids[], operation, channel_id, token[, affected_fields]}: ids
only, so parse fetches the records; operation `delete` names records that are gone, each a
deletion (pipeline/crm_records.py). There is no signature: `token` must equal secrets.signing
(constant time; 401 when missing or wrong) and `channel_id` options.channel_id when set.
https://www.zoho.com/crm/developer/docs/api/v8/notifications/enable.html
Sink: a contact whose record id Chorus knows (a write returned it, a notification named it) is
updated by id, PUT {api-domain}/crm/v8/Contacts with `id` in each record and no Email (the
address is the CRM's to change); INVALID_DATA on the id ("the id given seems to be invalid")
reports it gone. The others: POST .../Contacts/upsert with duplicate_check_fields ["Email"]
(Zoho matches the Email, creates only when none has it). 100 records a call, one
{code, action, details{id}, message, status} per record, in order.
https://www.zoho.com/crm/developer/docs/api/v8/update-records.html
https://www.zoho.com/crm/developer/docs/api/v8/upsert-records.html
Auth: `Authorization: Zoho-oauthtoken <token>`, refreshed at the data centre's accounts server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import MalformedPayload, UpstreamError
from ..schema import AdvocateRecord, Author, CrmChange, Interaction
from .base import Delivery, ParseContext, SinkResult, Skipped, parse_iso, utc_from_epoch
from .crm_common import (
    CreateClaims,
    canonical,
    canonical_map,
    contact_name,
    mapped_properties,
    with_name_on_create,
    write_records,
)
from .http import json_object
from .oauth import TokenRequest, authorized_call, refresh_token_grant
from .signatures import verify_shared_secret
from .sink import Sink
from .source import CannotSign, SignedTestDelivery, Source

OPERATIONS = ("insert", "update", "delete")  # a callback's `operation`
CHANNEL_DAYS = 6  # a week is Zoho's maximum: renewed every 6 hours, a missed run costs nothing
IDENTITY_FIELDS = ["Email", "First_Name", "Last_Name", "Modified_Time"]


class ZohoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_domain: str = Field(
        default="https://www.zohoapis.com",
        pattern=r"^https://",
        description="Data centre API domain: zohoapis.com, .eu, .in, .com.au, .jp, ...",
    )
    accounts_url: str = Field(
        default="https://accounts.zoho.com",
        pattern=r"^https://",
        description="Data centre accounts server for OAuth: accounts.zoho.eu, ...",
    )
    api_version: str = Field(default="v8", pattern=r"^v\d+$")
    module: str = "Contacts"
    channel_id: str | None = Field(
        default=None,
        pattern=r"^\d{1,18}$",
        description="The channel's id (a number); callbacks of other channels are refused.",
    )
    notify_url: str | None = Field(
        default=None,
        pattern=r"^https://",
        description="This connector's public webhook URL: set it (with channel_id) and Chorus "
        "creates and renews the notification channel itself (renew_channels).",
    )


class ZohoProvider(Source, Sink):
    name = "zoho"
    Options = ZohoOptions
    batch_max = 100
    required_secrets = {
        "signing": "source",
        "client_id": "both",
        "client_secret": "both",
        "refresh_token": "both",
    }
    default_mapping = {
        "advocate_score": "Chorus_Advocate_Score",
        "advocate_tier": "Chorus_Advocate_Tier",
        "latest_nps": "Chorus_Latest_NPS",
        "sentiment": "Chorus_Sentiment",
        "x_handle": "Chorus_X_Handle",
        "last_mention_url": "Chorus_Last_Mention_URL",
        "last_interaction_at": "Chorus_Last_Interaction_At",
    }

    def validate_config(self, config, options) -> list[tuple[str, str]]:
        if options.notify_url and not options.channel_id:
            return [("options.channel_id", "a channel Chorus creates and renews needs its numeric id")]
        return []

    # ---- source -------------------------------------------------------------------------
    def queued_body(self, request, connector) -> bytes:
        """The callback without its `token` (verified already): the secret is not queued."""
        body = _callback(request.json())
        if "token" not in body:
            return request.body
        return json.dumps({k: v for k, v in body.items() if k != "token"}).encode()

    def _post(self, connector, http, path: str, body: dict[str, Any], method: str = "POST") -> Any:
        """Send a JSON body to the CRM API (`/crm/<version>/<path>`) with the connector's token."""
        opts = connector.options
        return authorized_call(
            http,
            method,
            lambda t: f"{_api_domain(t, opts)}/crm/{opts.api_version}/{path}",
            connector_id=connector.id,
            grant=self.grant(connector),
            scheme="Zoho-oauthtoken",
            headers={"Content-Type": "application/json"},
            json=body,
        )

    def watch_channel(self, connector, http, now: datetime) -> datetime:
        """Create or renew the notification channel (POST actions/watch, which re-subscribes an
        existing channel id): `Contacts.all` to options.notify_url, expiring CHANNEL_DAYS from now
        (Zoho's default is one hour, its maximum a week). Returns the expiry set."""
        opts = connector.options
        expiry = (now + timedelta(days=CHANNEL_DAYS)).replace(microsecond=0)
        response = self._post(
            connector,
            http,
            "actions/watch",
            {
                "watch": [
                    {
                        "channel_id": int(opts.channel_id or 0),
                        "events": [f"{opts.module}.all"],
                        "channel_expiry": expiry.isoformat(),
                        "token": connector.secret("signing"),
                        "notify_url": opts.notify_url,
                    }
                ]
            },
        )
        items = json_object(response).get("watch") or []
        item = items[0] if items and isinstance(items[0], dict) else {}
        if response.status_code >= 300 or item.get("status") != "success":
            raise UpstreamError(
                f"Zoho actions/watch: HTTP {response.status_code} {item.get('code') or _code(response)}",
                retryable=response.status_code >= 500 or response.status_code == 429,
                status=response.status_code,
            )
        return expiry

    def verify(self, request, connector, now) -> None:
        body = _callback(request.json())  # parsed once: check_body reads the same
        verify_shared_secret(str(body.get("token") or ""), connector.secret("signing"), "callback token")
        channel = connector.options.channel_id
        if channel and str(body.get("channel_id")) != channel:
            verify_shared_secret(str(body.get("channel_id")), channel, "channel_id")

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        raise CannotSign("Zoho carries its channel token inside the body: send a real change from Zoho")

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        body = _callback(delivery.json())
        key = f"{body.get('channel_id')}:{body.get('server_time')}"
        if not isinstance(body.get("ids") or [], list):
            return [Skipped("malformed_entry", "ids is not an array", key)]
        operation, ids = str(body.get("operation") or ""), [str(i) for i in body.get("ids") or []]
        if str(body.get("module")) != delivery.connector.options.module or operation not in OPERATIONS:
            return [
                Skipped("unsupported_event", f"{body.get('module')}.{operation}", f"{key}:{i}")
                for i in ids or [""]
            ]
        if not ids:
            return [Skipped("malformed_entry", "callback without ids", key)]
        if operation == "delete":  # the records are gone: nothing to fetch
            return [self._deletion(i, f"{key}:{i}", body, delivery) for i in ids]
        records = self._fetch(ids, delivery.connector, ctx.http)
        affected = _affected_fields(body.get("affected_fields"))
        return [
            self._record(records.get(i), i, f"{key}:{i}", operation, affected.get(i), body, delivery)
            for i in ids
        ]

    def _record(
        self, record, record_id, event_id, operation, changed, body, delivery
    ) -> Interaction | Skipped:
        if record is None:
            return Skipped("not_found", f"{delivery.connector.options.module} record is gone", event_id)
        connector = delivery.connector
        mapped = mapped_properties(self, connector)
        prop = next((p for p in (changed or []) if p in mapped), None) or (
            None if changed else next((p for p in mapped if p in record), None)
        )
        try:
            occurred = (
                parse_iso(record["Modified_Time"])
                if record.get("Modified_Time")
                else utc_from_epoch(body["server_time"], "ms")
            )
        except (KeyError, TypeError, ValueError):
            occurred = delivery.received_at
        name = " ".join(filter(None, [record.get("First_Name"), record.get("Last_Name")])) or None
        return self.interaction(
            connector,
            f"notification:{event_id}",
            kind="crm_update",
            event_id=event_id,
            event_type=f"{connector.options.module}.{operation}",
            occurred_at=occurred,
            author=Author(provider_user_id=record_id, email=record.get("Email") or None, display_name=name),
            crm_change=CrmChange(
                object_id=record_id,
                change_type=operation,
                property=prop,
                value=canonical(record.get(prop)) if prop else None,
                source="zoho",
            ),
            public=False,
        )

    def _deletion(self, record_id: str, event_id: str, body, delivery) -> Interaction:
        """A record deleted in Zoho: the pipeline drops its link and follows on_crm_delete."""
        try:
            occurred = utc_from_epoch(body["server_time"], "ms")
        except (KeyError, TypeError, ValueError):
            occurred = delivery.received_at
        module = delivery.connector.options.module
        return self.interaction(
            delivery.connector,
            f"notification:{event_id}",
            kind="crm_update",
            event_id=event_id,
            event_type=f"{module}.delete",
            occurred_at=occurred,
            author=Author(provider_user_id=record_id),
            crm_change=CrmChange(object_id=record_id, change_type="delete", source="zoho", event="delete"),
            public=False,
        )

    def _fetch(self, ids: list[str], connector, http) -> dict[str, dict[str, Any]]:
        """GET {api-domain}/crm/v8/Contacts?ids=...&fields=... (fields is mandatory since v3)."""
        opts = connector.options
        fields = ",".join(dict.fromkeys(IDENTITY_FIELDS + mapped_properties(self, connector)))
        response = authorized_call(
            http,
            "GET",
            lambda t: f"{_api_domain(t, opts)}/crm/{opts.api_version}/{opts.module}",
            connector_id=connector.id,
            grant=self.grant(connector),
            scheme="Zoho-oauthtoken",
            params={"ids": ",".join(ids), "fields": fields},
        )
        if response.status_code == 204:  # Zoho answers 204 when none of the ids exist any more
            return {}
        if response.status_code >= 400:
            raise UpstreamError(
                f"Zoho record fetch: HTTP {response.status_code} {_code(response)}",
                retryable=response.status_code >= 500,
                status=response.status_code,
            )
        return {str(r.get("id")): r for r in (json_object(response).get("data") or []) if isinstance(r, dict)}

    # ---- sink ---------------------------------------------------------------------------
    def grant(self, connector) -> TokenRequest:
        return refresh_token_grant(
            f"{connector.options.accounts_url}/oauth/v2/token",
            connector.secret("client_id"),
            connector.secret("client_secret"),
            connector.secret("refresh_token"),
        )

    def upsert(
        self, records: list[AdvocateRecord], connector, http, claims: CreateClaims | None = None
    ) -> list[SinkResult]:
        """Known records by id (PUT), the others by the upsert on Email (Zoho matches it, and
        creates only when no contact has it)."""
        return write_records(
            records,
            connector,
            update=lambda pairs: self._update(pairs, connector, http),
            create=lambda new: self._create(new, connector, http),
            no_email="no email for duplicate_check_fields",
        )

    def _create(self, records, connector, http) -> list[SinkResult]:
        # Last_Name is mandatory on create only: sent just for the records Zoho says lack it.
        outcome = with_name_on_create(
            records,
            lambda rs, named: self._upsert(rs, connector, http, with_last_name=named),
            lambda result: "MANDATORY_NOT_FOUND" in (result.error or ""),
        )
        return [outcome[r.person_id] for r in records]

    def _update(self, pairs, connector, http) -> list[SinkResult]:
        """PUT /Contacts: each record by its id; Email is not sent (the CRM's to change)."""
        data = [{"id": crm_id, **self.properties_for(record, connector)} for record, crm_id in pairs]
        response = self._post(connector, http, connector.options.module, {"data": data}, method="PUT")
        records = [record for record, _ in pairs]
        return list(self._results(response, records, connector, "update", [i for _, i in pairs]).values())

    def _upsert(self, records, connector, http, *, with_last_name: bool) -> dict[str, SinkResult]:
        opts = connector.options
        data = []
        for record in records:
            row = {"Email": record.email, **self.properties_for(record, connector)}
            if with_last_name:
                row["Last_Name"] = contact_name(record)
            data.append(row)
        response = self._post(
            connector, http, f"{opts.module}/upsert", {"data": data, "duplicate_check_fields": ["Email"]}
        )
        return self._results(response, records, connector, "upsert")

    def _results(
        self, response, records, connector, what: str, ids: list[str] | None = None
    ) -> dict[str, SinkResult]:
        """One result per record, in order (`ids`: the record ids an update named). A 400 with
        the per-record list (every record failed) is read the same way."""
        body = json_object(response)
        if response.status_code in (200, 201, 202, 207, 400) and isinstance(body.get("data"), list):
            return {
                r.person_id: self._result(r, item, connector, ids[n] if ids else None)
                for n, (r, item) in enumerate(zip(records, body["data"]))
            }
        if response.status_code == 400:
            return {r.person_id: SinkResult(r.person_id, ok=False, error=_code(response)) for r in records}
        raise UpstreamError(
            f"Zoho {what}: HTTP {response.status_code} {_code(response)}",
            retryable=response.status_code >= 500,
            status=response.status_code,
        )

    def _result(self, record, item: dict[str, Any], connector, crm_id: str | None = None) -> SinkResult:
        details = item.get("details") or {}
        if item.get("status") == "success" or item.get("code") == "SUCCESS":
            return SinkResult(
                record.person_id,
                ok=True,
                crm_id=str(details.get("id") or crm_id),
                created=item.get("action") == "insert",
                written=canonical_map(self.properties_for(record, connector)),
            )
        return SinkResult(
            record.person_id,
            ok=False,
            gone=crm_id is not None and _names_a_gone_id(item),
            retryable=item.get("code") in ("INTERNAL_ERROR",),
            error=f"{item.get('code')}: {item.get('message')} {details.get('api_name') or ''}".strip(),
        )


def _names_a_gone_id(item: dict[str, Any]) -> bool:
    """Zoho's answer to an update naming a record id it does not have (deleted, or never was):
    INVALID_DATA on the `id` ("the id given seems to be invalid"), not on one of the fields."""
    details = item.get("details") or {}
    return item.get("code") == "INVALID_DATA" and (
        details.get("api_name") == "id" or "id given seems to be invalid" in str(item.get("message"))
    )


def _callback(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MalformedPayload("a Zoho notification is a JSON object")
    return data


def _affected_fields(value: Any) -> dict[str, list[str]]:
    """affected_fields: [{"<record id>": ["Field", ...]}, ...] when return_affected_field_values is on."""
    out: dict[str, list[str]] = {}
    for entry in value or []:
        if isinstance(entry, dict):
            for record_id, fields in entry.items():
                out[str(record_id)] = [str(f) for f in fields or []]
    return out


def _api_domain(token, opts) -> str:
    return str(token.extras.get("api_domain") or opts.api_domain).rstrip("/")


def _code(response) -> str:
    body = json_object(response)
    return f"{body.get('code', '')}: {body.get('message', '')}".strip(": ") or response.text[:200]
