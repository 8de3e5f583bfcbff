"""The provider contract. A provider module fills in this form; the pipeline does the rest.

Source side: content types, handshake, signature check, acknowledgement, parse.
Sink side: batch maximum and `upsert`. A provider may be both (HubSpot).
Providers import the schema and these shared helpers, never the store or the queues.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict

from ..config.connector import Connector
from ..errors import MalformedPayload
from ..schema import AdvocateRecord, Interaction
from .signatures import BodySignature

JSON_TYPES = ("application/json",)
FORM_TYPE = "application/x-www-form-urlencoded"
MULTIPART_TYPE = "multipart/form-data"
XML_TYPES = ("application/xml", "text/xml", "application/soap+xml", "application/atom+xml")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_type(mtype: str) -> bool:
    return mtype == "application/json" or mtype.endswith("+json")


def load_json(body: bytes) -> Any:
    """json.loads of a body. UTF-8 (RFC 8259) is decoded first: json.loads sniffing the
    encoding of bytes costs more than parsing a small body; other encodings still load."""
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError:  # not UTF-8, a BOM, or not JSON: json.loads judges the bytes itself
        return json.loads(body)


@dataclass(frozen=True, init=False)
class InboundRequest:
    """An HTTP request as received: exact body bytes, lower-cased header names.
    What is derived from it (media type, parsed JSON) is worked out once per request."""

    method: str
    url: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    content_type: str = field(repr=False, compare=False)  # media type only, lower-case

    def __init__(
        self,
        method: str,
        url: str,
        path: str,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        body: bytes,
    ) -> None:
        # One dict update: the generated frozen __init__ calls object.__setattr__ per field,
        # which cost a small delivery more than its envelope did.
        self.__dict__.update(
            method=method,
            url=url,
            path=path,
            headers=headers,
            query=query,
            body=body,
            content_type=media_type(headers.get("content-type")),
        )

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON; MalformedPayload when it is not. Parsed once however many steps
        (verify, handshake, check_body) look at it."""
        parsed = self.__dict__.get("_json")
        if parsed is None:
            try:
                parsed = (load_json(self.body),)
            except (ValueError, RecursionError):  # RecursionError: absurd nesting
                parsed = ()
            self.__dict__["_json"] = parsed  # a cache, not state: the request stays as received
        if not parsed:
            raise MalformedPayload("body is not valid JSON")
        return parsed[0]


@dataclass
class WebResponse:
    status: int = 200
    body: bytes | str | dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """A verified delivery handed to `parse`, rebuilt from the queue envelope."""

    connector: Connector
    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str]
    content_type: str
    url: str
    received_at: datetime

    def json(self) -> Any:
        try:
            return load_json(self.body)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurd nesting
            raise MalformedPayload(f"body is not valid JSON: {exc.__class__.__name__}") from None

    def form(self) -> dict[str, str]:
        try:
            return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise MalformedPayload("form body is not UTF-8") from None


@dataclass(frozen=True)
class Skipped:
    """An entry of a delivery that yields no interaction, and why. Recorded, never silent."""

    reason: str
    detail: str = ""
    event_id: str | None = None


@dataclass
class ParseContext:
    """What a parser may use beyond the delivery: the clock and an HTTP session for
    notifications that carry only an id (the provider fetches the object)."""

    now: datetime
    http: Any = None


@dataclass
class SinkResult:
    """One record's outcome in a CRM batch call."""

    person_id: str
    ok: bool
    crm_id: str | None = None
    created: bool = False
    error: str | None = None
    retryable: bool = False
    written: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None  # seconds; a retryable record is retried no sooner


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


def interaction_id(connector_id: str, external_id: str) -> str:
    """Stable id: the same provider object through the same connector is one interaction."""
    return hashlib.sha256(f"{connector_id}\x1f{external_id}".encode()).hexdigest()[:32]


def utc_from_epoch(value: float | int | str, unit: str = "s") -> datetime:
    """ValueError for anything that is not an epoch datetime can hold (the platform raises
    OverflowError or OSError past its time_t), so parsers treat it as any other bad value."""
    number = float(value)
    try:
        return datetime.fromtimestamp(number / 1000.0 if unit == "ms" else number, tz=UTC)
    except (OverflowError, OSError):
        raise ValueError(f"epoch {number!r} is out of range") from None


def parse_iso(value: str) -> datetime:
    if not isinstance(value, str):  # a null or a number where a provider documents a string
        raise ValueError(f"expected an ISO 8601 string, got {type(value).__name__}")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Provider:
    """Base of every provider. Override only what is special about yours."""

    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = NoOptions
    # secret name -> "source" | "sink" | "both": which directions require it
    required_secrets: ClassVar[dict[str, str]] = {}
    # --- source side ---
    is_source: ClassVar[bool] = False
    content_types: ClassVar[tuple[str, ...]] = JSON_TYPES
    handshake_methods: ClassVar[tuple[str, ...]] = ()
    # the common scheme, declared (header names lower-case); otherwise override verify()
    body_signature: ClassVar[BodySignature | None] = None
    # headers worth keeping on the queue message for parse (lower-case); others are dropped
    kept_headers: ClassVar[tuple[str, ...]] = ()
    # --- sink side ---
    is_sink: ClassVar[bool] = False
    batch_max: ClassVar[int] = 1
    # a CRM without an upsert (search, then create): the engine passes upsert() `claims`, a
    # crm_common.CreateClaims, so two syncs of one new contact never create it twice
    creates_by_search: ClassVar[bool] = False
    # requests per window of seconds, per CRM account (shared by all workers); a connector file
    # can lower it with `rate_limit: {requests: N, per_seconds: S}`
    rate_limit: ClassVar[tuple[int, float]] = (10, 1.0)
    default_mapping: ClassVar[dict[str, str]] = {}

    def handshake(self, request: InboundRequest, connector: Connector) -> WebResponse | None:
        """Answer a GET/HEAD verification request, or a POST challenge (called after verify)."""
        return None

    def verify(self, request: InboundRequest, connector: Connector, now: float) -> None:
        if self.body_signature is None:
            raise NotImplementedError(f"{self.name} declares no body_signature and no verify()")
        self.body_signature.verify(request.headers, request.body, connector.secret("signing"))

    def check_body(self, request: InboundRequest) -> None:
        """Cheap well-formedness check at ingest, so a malformed body gets 400 right away."""
        if is_json_type(request.content_type):
            request.json()

    def acknowledge(self, request: InboundRequest, connector: Connector) -> WebResponse:
        return WebResponse(200, {"status": "accepted"})

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        raise NotImplementedError

    def properties_for(self, record: AdvocateRecord, connector: Connector) -> dict[str, Any]:
        """CRM property -> value for one record: the provider's default mapping, overridden by
        the connector file's `mapping` (Chorus field -> CRM property; an empty name drops it)."""
        mapping = {**self.default_mapping, **connector.config.mapping}
        values = record.model_dump(mode="json")
        return {prop: values[name] for name, prop in mapping.items() if prop and values.get(name) is not None}

    def upsert(self, records: list[AdvocateRecord], connector: Connector, http: Any) -> list[SinkResult]:
        raise NotImplementedError

    def setup(self, connector: Connector, http: Any) -> list[str]:
        """`chorus crm setup`: create what the CRM needs (custom fields) where its API allows it,
        and return what was done or the manual steps where it does not."""
        fields = ", ".join(sorted(set(self.properties_for_all_fields(connector))))
        return [f"{self.name}: no automatic set-up; create these fields in the CRM if missing: {fields}"]

    def properties_for_all_fields(self, connector: Connector) -> list[str]:
        mapping = {**self.default_mapping, **connector.config.mapping}
        return [prop for prop in mapping.values() if prop]
