"""Microsoft Dynamics 365 / Dataverse: webhook registrations in, Web API upsert out.

Source: a WebHook service endpoint with steps on Create, Update and Delete of contact (register
them asynchronous). The body is the JSON RemoteExecutionContext; Target holds the changed
attributes. A Delete's Target is an EntityReference (the row is gone): a deletion
(pipeline/crm_records.py). Dataverse does not sign. Authentication is a static value: HttpHeader (the header
named options.auth_header) or WebhookKey (`?code=`), compared with secrets.signing in
constant time; 401 when missing or wrong. A context whose Target or images have a wrong-typed
field is skipped as `malformed_entry`.
https://learn.microsoft.com/power-apps/developer/data-platform/use-webhooks
Sink: Entra ID client credentials (scope {base_url}/.default). A contact whose contactid Chorus
knows: PATCH contacts(<contactid>) with If-Match: * (update only; a deleted row answers 404,
reported gone). Otherwise PATCH /api/data/v9.2/contacts(<alternate key>='<email>') without
If-Match / If-None-Match:
an upsert (creates when no row has the key, updates otherwise; never a duplicate).
If-Match: * would forbid the create (404), If-None-Match: * the update (412); neither is sent.
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/update-delete-entities-using-web-api
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from ..errors import MalformedPayload, UpstreamError
from ..schema import AdvocateRecord, Author, CrmChange, Interaction
from .base import Delivery, ParseContext, SinkResult, Skipped
from .crm_common import CreateClaims, canonical, canonical_map, write_each
from .entries import guarded_all
from .http import json_object
from .oauth import TokenRequest, authorized_call, client_credentials
from .signatures import verify_shared_secret
from .sink import Sink
from .source import SignedTestDelivery, Source

WCF_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
SYSTEM_ATTRIBUTES = {
    "contactid",
    "modifiedon",
    "modifiedby",
    "modifiedonbehalfby",
    "fullname",
    "yomifullname",
    "versionnumber",
    "createdon",
    "createdby",
    "createdonbehalfby",
}


class DynamicsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(
        pattern=r"^https://", description="The environment URL: https://<org>.crm.dynamics.com"
    )
    tenant_id: str | None = Field(default=None, description="Entra ID tenant (directory) id, for the sink.")
    alternate_key: str = Field(default="emailaddress1", pattern=r"^[a-z_][a-z0-9_]*$")
    auth: Literal["header", "code"] = "header"
    auth_header: str = Field(default="x-chorus-key", pattern=r"^[A-Za-z0-9-]+$")
    login_url: str = Field(default="https://login.microsoftonline.com", pattern=r"^https://")


class DynamicsProvider(Source, Sink):
    name = "dynamics"
    Options = DynamicsOptions
    batch_max = 25  # one PATCH per contact (no $batch yet); 25 keeps a Lambda call short
    kept_headers = ("x-request-id", "x-ms-dynamics-organization")
    required_secrets = {"signing": "source", "client_id": "sink", "client_secret": "sink"}
    default_mapping = {
        "advocate_score": "chorus_advocatescore",
        "advocate_tier": "chorus_advocatetier",
        "latest_nps": "chorus_latestnps",
        "sentiment": "chorus_sentiment",
        "x_handle": "chorus_xhandle",
        "last_mention_url": "chorus_lastmentionurl",
        "last_interaction_at": "chorus_lastinteractionat",
    }

    def validate_config(self, config, options) -> list[tuple[str, str]]:
        if config.is_sink and not options.tenant_id:
            return [("options.tenant_id", "the Entra ID tenant is required to get a token")]
        return []

    # ---- source -------------------------------------------------------------------------
    def verify(self, request, connector, now) -> None:
        opts = connector.options
        if opts.auth == "code":
            verify_shared_secret(
                request.query.get("code"), connector.secret("signing"), "query parameter 'code'"
            )
        else:
            verify_shared_secret(
                request.header(opts.auth_header), connector.secret("signing"), f"header '{opts.auth_header}'"
            )

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        opts, key = connector.options, connector.secret("signing")
        if opts.auth == "code":
            return SignedTestDelivery({"content-type": "application/json"}, {"code": key})
        return SignedTestDelivery({"content-type": "application/json", opts.auth_header: key})

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        context = delivery.json()
        if not isinstance(context, dict) or "MessageName" not in context:
            raise MalformedPayload("a Dataverse webhook body is a RemoteExecutionContext object")
        message, entity = str(context.get("MessageName")), str(context.get("PrimaryEntityName"))
        request_id = str(
            context.get("RequestId")
            or context.get("OperationId")
            or delivery.headers.get("x-request-id")
            or ""
        )
        if not request_id:
            raise MalformedPayload("no RequestId, OperationId or x-request-id to de-duplicate on")
        if entity != "contact" or message not in ("Create", "Update", "Delete"):
            return [Skipped("unsupported_event", f"{entity}.{message}", request_id)]
        if message == "Delete":
            return guarded_all(lambda body: [self._deletion(body, request_id, delivery)], context, request_id)
        return guarded_all(
            lambda body: self._changes(body, message, request_id, delivery), context, request_id
        )

    def _deletion(self, context: dict[str, Any], request_id: str, delivery: Delivery) -> Interaction:
        """The Delete message: Target is an EntityReference {Id, LogicalName} of the gone row."""
        target = _parameter(context.get("InputParameters"), "Target")
        record_id = str(context.get("PrimaryEntityId") or (target or {}).get("Id") or "")
        if not record_id:
            raise ValueError("Delete without PrimaryEntityId or Target.Id")
        return self.interaction(
            delivery.connector,
            f"request:{request_id}:delete",
            kind="crm_update",
            event_id=f"{request_id}:delete",
            event_type="contact.Delete",
            occurred_at=_wcf_date(context.get("OperationCreatedOn")) or delivery.received_at,
            author=Author(provider_user_id=record_id),
            crm_change=CrmChange(
                object_id=record_id,
                change_type="Delete",
                source=str(context.get("InitiatingUserId") or "") or None,
                event="delete",
            ),
            public=False,
        )

    def _changes(
        self, context: dict[str, Any], message: str, request_id: str, delivery: Delivery
    ) -> list[Interaction | Skipped]:
        target = _parameter(context.get("InputParameters"), "Target")
        record_id = str(context.get("PrimaryEntityId") or (target or {}).get("Id") or "")
        if not isinstance(target, dict) or not record_id:
            return [
                Skipped("malformed_entry", "no Target entity (payload over 256 KB is trimmed)", request_id)
            ]
        attributes = _attributes(target)
        image = _attributes(_parameter(context.get("PostEntityImages"), None) or {})
        email = attributes.get("emailaddress1") or image.get("emailaddress1")
        changed: list[str | None] = [a for a in attributes if a not in SYSTEM_ATTRIBUTES] or [None]
        occurred = _wcf_date(context.get("OperationCreatedOn")) or delivery.received_at
        return [
            self.interaction(
                delivery.connector,
                f"request:{request_id}:{attr or '-'}",
                kind="crm_update",
                event_id=f"{request_id}:{attr or '-'}",
                event_type=f"contact.{message}",
                occurred_at=occurred,
                author=Author(
                    provider_user_id=record_id,
                    email=str(email) if email else None,
                    display_name=attributes.get("fullname") or image.get("fullname"),
                ),
                crm_change=CrmChange(
                    object_id=record_id,
                    change_type=message,
                    property=attr,
                    value=canonical(attributes.get(attr)) if attr else None,
                    source=str(context.get("InitiatingUserId") or "") or None,
                ),
                public=False,
            )
            for attr in changed
        ]

    # ---- sink ---------------------------------------------------------------------------
    def grant(self, connector) -> TokenRequest:
        opts = connector.options
        return client_credentials(
            f"{opts.login_url}/{opts.tenant_id}/oauth2/v2.0/token",
            connector.secret("client_id"),
            connector.secret("client_secret"),
            scope=f"{opts.base_url.rstrip('/')}/.default",
        )

    def upsert(
        self, records: list[AdvocateRecord], connector, http, claims: CreateClaims | None = None
    ) -> list[SinkResult]:
        return write_each(
            records,
            connector,
            update_one=lambda record, contact_id: self._patch(record, contact_id, connector, http),
            create_one=lambda record: self._patch(record, None, connector, http),
            no_email="no email for the alternate key",
        )

    def _patch(self, record: AdvocateRecord, known: str | None, connector, http) -> SinkResult:
        """A contact whose contactid Chorus knows: PATCH contacts(<id>) with If-Match: * (update
        only: a deleted contact answers 404, reported gone, never re-created under that id).
        Otherwise the alternate-key upsert, which matches emailaddress1 before it creates."""
        opts = connector.options
        if known:
            target, extra = f"contacts({quote(known, safe='')})", {"If-Match": "*"}
        else:
            assert record.email is not None  # write_each creates only records with an email
            key = quote(record.email.replace("'", "''"), safe="@'")  # OData literal: ' doubled; as typed
            target, extra = f"contacts({opts.alternate_key}='{key}')", {}
        fields = self.properties_for(record, connector)
        response = authorized_call(
            http,
            "PATCH",
            f"{opts.base_url.rstrip('/')}/api/data/v9.2/{target}",
            connector_id=connector.id,
            grant=self.grant(connector),
            params={"$select": "contactid"},
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "OData-MaxVersion": "4.0",
                "OData-Version": "4.0",
                "Prefer": "return=representation",
                **extra,
            },
            json=fields,
        )
        if known and response.status_code == 404:
            return SinkResult(record.person_id, ok=False, gone=True, error="deleted in Dataverse")
        if response.status_code in (200, 201, 204):
            body = json_object(response)
            crm_id = body.get("contactid") or _entity_id(response.headers.get("OData-EntityId"))
            return SinkResult(
                record.person_id,
                ok=True,
                crm_id=crm_id,
                created=response.status_code == 201,
                written=canonical_map(fields),
            )
        message = str((json_object(response).get("error") or {}).get("message") or response.text[:200])
        if response.status_code == 401:
            raise UpstreamError(f"Dataverse rejected the token: {message}", retryable=False, status=401)
        return SinkResult(
            record.person_id,
            ok=False,
            retryable=response.status_code >= 500,
            error=f"HTTP {response.status_code} {message}",
        )


def _parameter(collection: Any, key: str | None) -> Any:
    """RemoteExecutionContext collections are [{key, value}]; key None takes the first."""
    for entry in collection or []:
        if isinstance(entry, dict) and (key is None or entry.get("key") == key):
            return entry.get("value")
    return None


def _attributes(entity: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in entity.get("Attributes") or []:
        if isinstance(entry, dict) and "key" in entry:
            value = entry.get("value")
            if isinstance(value, dict):  # OptionSetValue / Money {Value}, EntityReference {Id}
                value = value.get("Value", value.get("Id"))
            elif isinstance(value, str) and (moment := _wcf_date(value)) is not None:
                value = moment.isoformat()
            out[str(entry["key"])] = value
    return out


def _wcf_date(value: Any) -> datetime | None:
    """'/Date(1506409448000-0700)/': milliseconds since the epoch (UTC); the offset is informative."""
    match = WCF_DATE.match(str(value or ""))
    return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC) if match else None


def _entity_id(header: str | None) -> str | None:
    match = re.search(r"\(([0-9a-fA-F-]{36})\)", header or "")
    return match.group(1) if match else None
