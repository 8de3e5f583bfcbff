"""Salesforce: Outbound Messages in, sObject Collections upsert out.

Source: a workflow/flow Outbound Message is a SOAP `notifications` call (text/xml) with
OrganizationId and up to 100 Notification{Id, sObject}; Salesforce re-sends until it gets the
`notificationsResponse` Ack. https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_wsdl.htm
There is no signature. Authenticity: the endpoint URL carries an unguessable `?token=`
(compared in constant time with secrets.signing: 401 when missing or wrong), and the
OrganizationId must equal options.organization_id (403 otherwise).
Sink: OAuth 2.0 (client credentials at the My Domain, or JWT bearer). A Contact whose Id Chorus
knows is updated by Id (PATCH /services/data/vXX.X/composite/sobjects, one SaveResult each);
the others are first looked up by the standard Email (one SOQL query per batch: contacts from
before Chorus have no external id) and updated by the Id found; only the unmatched are created,
PATCH .../composite/sobjects/Contact/{external id field}, allOrNone=false, 200 records a call,
one UpsertResult {id, success, errors[], created} per record, in order. Outbound Messages cannot
fire on delete: a deleted Contact shows as ENTITY_IS_DELETED on the next update by Id.
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Literal, NoReturn
from xml.parsers import expat

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ChorusError, MalformedPayload, UpstreamError
from ..schema import AdvocateRecord, Author, CrmChange, Interaction
from .base import Delivery, ParseContext, SinkResult, Skipped, WebResponse, parse_iso
from .crm_common import (
    CreateClaims,
    canonical,
    canonical_map,
    contact_name,
    mapped_properties,
    with_name_on_create,
    write_records,
)
from .http import Throttle
from .oauth import TokenRequest, authorized_call, client_credentials, jwt_bearer
from .signatures import verify_shared_secret
from .sink import Sink
from .source import SignedTestDelivery, Source

log = logging.getLogger("chorus_hub.salesforce")
OUTBOUND_NS = "{http://soap.sforce.com/2005/09/outbound}"
ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
    b"</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)
SYSTEM_FIELDS = {"Id", "LastModifiedById", "LastModifiedDate", "SystemModstamp", "CreatedDate", "CreatedById"}
RETRYABLE_CODES = {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"}
# an update by Id of a Contact deleted (recycle bin) or purged; INVALID_CROSS_REFERENCE_KEY is
# also what an Id of no record answers
GONE_CODES = {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"}


class OrganizationMismatch(ChorusError):
    status = 403
    reason = "wrong_organization"


class SalesforceOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(pattern=r"^https://", description="My Domain, e.g. https://acme.my.salesforce.com")
    organization_id: str | None = Field(default=None, pattern=r"^00D[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$")
    api_version: str = Field(default="62.0", pattern=r"^\d{2,3}\.0$")
    external_id_field: str = "Chorus_Email__c"
    auth: Literal["client_credentials", "jwt_bearer"] = "client_credentials"
    username: str | None = Field(default=None, description="JWT bearer: the integration user (sub).")
    login_url: str = Field(default="https://login.salesforce.com", pattern=r"^https://")
    integration_user_id: str | None = Field(
        default=None, description="Changes last made by this user are Chorus's own: skipped as echo."
    )
    limit_retry_after: int = Field(default=3600, gt=0, description="Wait after REQUEST_LIMIT_EXCEEDED.")
    api_reserve_percent: float = Field(
        default=10,
        ge=0,
        lt=100,
        description="Share of the org's 24-hour API allocation Chorus leaves to other integrations: "
        "above the rest (Sforce-Limit-Info), the account rests limit_retry_after seconds.",
    )


class SalesforceThrottle(Throttle):
    """REQUEST_LIMIT_EXCEEDED (403) parks the account for `limit_retry_after`; and each answer's
    `Sforce-Limit-Info: api-usage=N/M` (the org's rolling 24-hour allocation) rests the account
    once N reaches M less the reserve, before Salesforce starts refusing every integration.
    https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm"""

    def throttled(self, response, connector) -> float | None:
        if (
            response.status_code == 403
            and _first_error(_json(response), response)[0] == "REQUEST_LIMIT_EXCEEDED"
        ):
            return float(connector.options.limit_retry_after)
        return super().throttled(response, connector)

    def exhausted(self, response, connector) -> float | None:
        usage = api_usage(response)
        if usage is None:
            return None
        used, limit = usage
        if limit and used >= limit * (1 - connector.options.api_reserve_percent / 100):
            log.warning(
                "Salesforce API allocation reached Chorus's share: resting the account",
                extra={"connector_id": connector.id, "used": used, "limit": limit},
            )
            return float(connector.options.limit_retry_after)
        return None


def api_usage(response) -> tuple[int, int] | None:
    """Sforce-Limit-Info: api-usage=used/limit, or None when the answer carries none."""
    for part in response.headers.get("Sforce-Limit-Info", "").split(","):
        name, _, value = part.strip().partition("=")
        used, _, limit = value.partition("/")
        if name == "api-usage" and used.isdigit() and limit.isdigit():
            return int(used), int(limit)
    return None


class SalesforceProvider(Source, Sink):
    name = "salesforce"
    Options = SalesforceOptions
    content_types = ("text/xml", "application/xml")
    batch_max = 200
    throttle = SalesforceThrottle()
    required_secrets = {"signing": "source", "client_id": "sink"}
    default_mapping = {
        "advocate_score": "Chorus_Advocate_Score__c",
        "advocate_tier": "Chorus_Advocate_Tier__c",
        "latest_nps": "Chorus_Latest_NPS__c",
        "sentiment": "Chorus_Sentiment__c",
        "x_handle": "Chorus_X_Handle__c",
        "last_mention_url": "Chorus_Last_Mention_URL__c",
        "last_interaction_at": "Chorus_Last_Interaction_At__c",
    }

    def validate_config(self, config, options) -> list[tuple[str, str]]:
        problems = []
        if config.is_source and not options.organization_id:
            problems.append(
                ("options.organization_id", "required to check where Outbound Messages come from")
            )
        if config.is_sink and options.auth == "jwt_bearer":
            if not options.username:
                problems.append(("options.username", "JWT bearer needs the integration user's name"))
            if "private_key" not in config.secrets:
                problems.append(("secrets.private_key", "JWT bearer needs the connected app's private key"))
        elif (
            config.is_sink and "client_secret" not in config.secrets and "access_token" not in config.secrets
        ):
            problems.append(("secrets.client_secret", "client credentials need the consumer secret"))
        return problems

    # ---- source -------------------------------------------------------------------------
    def verify(self, request, connector, now) -> None:
        opts = connector.options
        verify_shared_secret(
            request.query.get("token"), connector.secret("signing"), "query parameter 'token'"
        )
        org = _organization_id(request.body)
        if not org or org[:15] != (opts.organization_id or "")[:15]:
            raise OrganizationMismatch("OrganizationId is not the one this connector expects")

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        # the body must name the connector's OrganizationId, as Salesforce's own do
        return SignedTestDelivery(
            {"content-type": "text/xml; charset=utf-8"}, {"token": connector.secret("signing")}
        )

    def check_body(self, request) -> None:
        """verify() has checked the whole body already (it reads OrganizationId)."""

    def acknowledge(self, request, connector) -> WebResponse:
        return WebResponse(200, ACK, {"Content-Type": "text/xml"})  # Salesforce sends Accept: text/xml

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        root = _notifications(delivery.body)
        return [self._notification(n, delivery, ctx) for n in root.findall(f"{OUTBOUND_NS}Notification")]

    def _notification(self, node, delivery: Delivery, ctx: ParseContext) -> Interaction | Skipped:
        connector = delivery.connector
        notification_id = _text(node.find(f"{OUTBOUND_NS}Id"))
        sobject = node.find(f"{OUTBOUND_NS}sObject")
        if not notification_id or sobject is None:
            return Skipped("malformed_entry", "Notification without Id or sObject")
        fields = {child.tag.rsplit("}", 1)[-1]: _text(child) for child in sobject}
        record_id = fields.get("Id")
        if not record_id:
            return Skipped("malformed_entry", "sObject without Id", notification_id)
        user = connector.options.integration_user_id
        if user and fields.get("LastModifiedById", "")[:15] == user[:15]:
            return Skipped("echo", "last modified by the Chorus integration user", notification_id)
        # The echo check compares one property: the first Chorus-written field in the message.
        prop = next((p for p in mapped_properties(self, connector) if p in fields), None)
        try:
            occurred = parse_iso(fields["LastModifiedDate"]) if fields.get("LastModifiedDate") else ctx.now
        except ValueError:
            occurred = ctx.now
        sobject_type = sobject.get("{http://www.w3.org/2001/XMLSchema-instance}type", "sf:sObject")
        return self.interaction(
            connector,
            f"notification:{notification_id}",
            kind="crm_update",
            event_id=notification_id,
            event_type=f"outbound_message.{sobject_type.split(':')[-1]}",
            occurred_at=occurred,
            author=Author(
                provider_user_id=record_id,
                email=fields.get("Email") or None,
                display_name=" ".join(filter(None, [fields.get("FirstName"), fields.get("LastName")]))
                or None,
            ),
            crm_change=CrmChange(
                object_id=record_id,
                change_type="outbound_message",
                property=prop,
                value=canonical(fields.get(prop)) if prop else None,
                source=fields.get("LastModifiedById"),
            ),
            public=False,
        )

    # ---- sink ---------------------------------------------------------------------------
    def grant(self, connector) -> TokenRequest:
        opts = connector.options
        if (
            connector.has_secret("access_token")
            and not connector.has_secret("client_secret")
            and opts.auth == "client_credentials"
        ):
            return TokenRequest("static", static=connector.secret("access_token"))
        if opts.auth == "jwt_bearer":
            return jwt_bearer(
                f"{opts.login_url}/services/oauth2/token",
                connector.secret("client_id"),
                opts.username or "",
                opts.login_url,
                connector.secret("private_key"),
            )
        return client_credentials(
            f"{opts.base_url}/services/oauth2/token",
            connector.secret("client_id"),
            connector.secret("client_secret"),
        )

    def upsert(
        self, records: list[AdvocateRecord], connector, http, claims: CreateClaims | None = None
    ) -> list[SinkResult]:
        """Known contacts by Id; the others looked up by the standard Email (one SOQL query per
        batch: contacts from before Chorus have no external id), then written by the Id found;
        only the unmatched are created, by an upsert on the external id field (so two syncs of
        one new person still make one contact)."""
        return write_records(
            records,
            connector,
            update=lambda pairs: self._update(pairs, connector, http),
            match=lambda keyed: self._match_by_email(keyed, connector, http),
            create=lambda new: list(
                with_name_on_create(
                    new,
                    lambda rs, named: self._upsert(rs, connector, http, with_last_name=named),
                    _needs_last_name,
                ).values()
            ),
            no_email="no email for the external id field",
        )

    def _call(self, connector, http, method: str, path: str, **kwargs) -> Any:
        opts = connector.options
        response = authorized_call(
            http,
            method,
            lambda token: str(token.extras.get("instance_url") or opts.base_url) + path,
            connector_id=connector.id,
            grant=self.grant(connector),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            **kwargs,
        )
        _warn_on_usage(connector, response)
        return response

    def _match_by_email(self, records, connector, http) -> dict[str, str]:
        """person id -> Id of the oldest Contact whose Email is theirs (SOQL compares Email
        without regard to case); one query for the batch, its pages followed."""
        emails = sorted({r.email for r in records})
        soql = (
            "SELECT Id, Email FROM Contact WHERE Email IN ("
            + ", ".join(soql_string(e) for e in emails)
            + ") ORDER BY CreatedDate ASC, Id ASC"
        )
        version = connector.options.api_version
        response = self._call(connector, http, "GET", f"/services/data/v{version}/query", params={"q": soql})
        oldest: dict[str, str] = {}
        while True:
            body = _json(response)
            if response.status_code != 200 or not isinstance(body, dict):
                self._raise(connector, response, body, "Salesforce contact query")
            for row in body.get("records") or []:
                if isinstance(row, dict) and row.get("Email") and row.get("Id"):
                    oldest.setdefault(str(row["Email"]).lower(), str(row["Id"]))
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                break
            response = self._call(connector, http, "GET", str(body["nextRecordsUrl"]))
        return {r.person_id: oldest[r.email.lower()] for r in records if r.email.lower() in oldest}

    def _update(self, pairs, connector, http) -> list[SinkResult]:
        """PATCH /composite/sobjects: up to 200 records by Id, one SaveResult each, in order.
        Email is not sent: the contact's address is the CRM's to change."""
        sobjects = [
            {"attributes": {"type": "Contact"}, "id": crm_id, **self.properties_for(record, connector)}
            for record, crm_id in pairs
        ]
        version = connector.options.api_version
        response = self._call(
            connector,
            http,
            "PATCH",
            f"/services/data/v{version}/composite/sobjects",
            json={"allOrNone": False, "records": sobjects},
        )
        body = _json(response)
        if response.status_code == 200 and isinstance(body, list):
            return [
                self._result(record, item, connector, crm_id=crm_id)
                for (record, crm_id), item in zip(pairs, body)
            ]
        if response.status_code == 400:
            code, message = _first_error(body, response)
            return [SinkResult(r.person_id, ok=False, error=f"{code}: {message}") for r, _ in pairs]
        self._raise(connector, response, body, "Salesforce update")

    def _upsert(self, records, connector, http, *, with_last_name: bool) -> dict[str, SinkResult]:
        opts = connector.options
        path = f"/services/data/v{opts.api_version}/composite/sobjects/Contact/{opts.external_id_field}"
        sobjects = [self._sobject(r, connector, with_last_name) for r in records]
        response = self._call(connector, http, "PATCH", path, json={"allOrNone": False, "records": sobjects})
        body = _json(response)
        if response.status_code == 200 and isinstance(body, list):
            return {r.person_id: self._result(r, item, connector) for r, item in zip(records, body)}
        if response.status_code == 400:
            code, message = _first_error(body, response)
            return {
                r.person_id: SinkResult(r.person_id, ok=False, error=f"{code}: {message}") for r in records
            }
        self._raise(connector, response, body, "Salesforce upsert")

    def _raise(self, connector, response, body, what: str) -> NoReturn:
        code, message = _first_error(body, response)
        if response.status_code == 403 and code == "REQUEST_LIMIT_EXCEEDED":
            raise UpstreamError(
                f"Salesforce API limit exceeded: {message}",
                retryable=True,
                retry_after=connector.options.limit_retry_after,
                status=403,
            )
        raise UpstreamError(
            f"{what}: HTTP {response.status_code} {code}: {message}",
            retryable=response.status_code >= 500,
            status=response.status_code,
        )

    def _sobject(self, record: AdvocateRecord, connector, with_last_name: bool) -> dict[str, Any]:
        assert record.email is not None  # write_records creates only records with an email
        sobject: dict[str, Any] = {
            "attributes": {"type": "Contact"},
            connector.options.external_id_field: record.email.lower(),
            "Email": record.email,
        }
        sobject.update(self.properties_for(record, connector))
        if with_last_name:
            sobject["LastName"] = contact_name(record)
        return sobject

    def _result(self, record, item: dict[str, Any], connector, crm_id: str | None = None) -> SinkResult:
        """One UpsertResult / SaveResult; an update of a deleted Contact is reported gone."""
        if item.get("success"):
            return SinkResult(
                record.person_id,
                ok=True,
                crm_id=item.get("id") or crm_id,
                created=bool(item.get("created")),
                written=canonical_map(self.properties_for(record, connector)),
            )
        errors = item.get("errors") or [{}]
        codes = {e.get("statusCode") for e in errors}
        return SinkResult(
            record.person_id,
            ok=False,
            gone=crm_id is not None and bool(codes & GONE_CODES),
            retryable=bool(codes & RETRYABLE_CODES),
            error="; ".join(
                f"{e.get('statusCode')}: {e.get('message')} {e.get('fields') or ''}".strip() for e in errors
            ),
        )


def _warn_on_usage(connector, response) -> None:
    """A warning once the org's 24-hour allocation is above 90% (other integrations share it)."""
    usage = api_usage(response)
    if usage and usage[1] and usage[0] / usage[1] > 0.9:
        log.warning(
            "Salesforce API allocation above 90%",
            extra={"connector_id": connector.id, "used": usage[0], "limit": usage[1]},
        )


def _notifications(body: bytes):
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException, ValueError):
        raise MalformedPayload("body is not a well-formed (and safe) XML document") from None
    node = root if root.tag == f"{OUTBOUND_NS}notifications" else root.find(f".//{OUTBOUND_NS}notifications")
    if node is None:
        raise MalformedPayload("no Outbound Message notifications element in the SOAP body")
    return node


_NOTIFICATIONS, _ORGANIZATION_ID = OUTBOUND_NS[1:] + "notifications", OUTBOUND_NS[1:] + "OrganizationId"


def _organization_id(body: bytes) -> str:
    """OrganizationId of an Outbound Message, as `_notifications(body).find(OrganizationId)` reads
    it, in one streaming expat pass: the whole body must still be well-formed, but no tree is
    built and, once OrganizationId is read, no Python runs per element (the defusedxml tree
    cost ten times the signature check). A SOAP message must not have a DTD (SOAP 1.1, section
    3): a DOCTYPE is refused outright, and with it every entity."""
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = _refuse_dtd
    text: list[str] = []
    entered = False  # the first notifications element has started
    depth = 0  # inside it: 1 on the element itself

    def outside(name: str, _attributes) -> None:
        nonlocal depth, entered
        if name == _NOTIFICATIONS:
            entered, depth = True, 1
            parser.StartElementHandler, parser.EndElementHandler = inside, leave

    def inside(name: str, _attributes) -> None:
        nonlocal depth
        depth += 1
        if depth == 2 and name == _ORGANIZATION_ID:  # its text ends at its first child or its end
            parser.CharacterDataHandler = text.append
            parser.StartElementHandler = parser.EndElementHandler = done

    def leave(_name: str) -> None:
        nonlocal depth
        depth -= 1
        if depth == 0:  # notifications closed without an OrganizationId
            done()

    def done(*_args) -> None:  # the rest of the body is only checked for well-formedness, in C
        parser.StartElementHandler = parser.EndElementHandler = parser.CharacterDataHandler = None

    parser.StartElementHandler = outside
    try:
        parser.Parse(body, True)
    except expat.ExpatError:
        raise MalformedPayload("body is not a well-formed XML document") from None
    if not entered:
        raise MalformedPayload("no Outbound Message notifications element in the SOAP body")
    return "".join(text).strip()


def _refuse_dtd(*_args) -> None:
    raise MalformedPayload("a SOAP message has no DTD; DOCTYPE and entities are refused")


def soql_string(value: str) -> str:
    """A SOQL string literal: quotes and backslashes escaped with a backslash."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _text(node) -> str:
    return (node.text or "").strip() if node is not None else ""


def _needs_last_name(result: SinkResult) -> bool:
    return (
        not result.ok
        and "REQUIRED_FIELD_MISSING" in (result.error or "")
        and "LastName" in (result.error or "")
    )


def _json(response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _first_error(body: Any, response) -> tuple[str, str]:
    """Salesforce REST errors are a list of {errorCode, message}."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode", "")), str(body[0].get("message", ""))
    return "", (response.text or "")[:200]
