"""What every provider shares: the request and delivery types, the root `Provider` class and
small parsing helpers. The two roles are `source.Source` and `sink.Sink`; a provider module
fills in one form or both and the pipeline does the rest.
Providers import the schema and these shared helpers, never the store or the queues.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict

from ..config.connector import Connector
from ..config.models import ConnectorConfig
from ..errors import MalformedPayload

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


@dataclass(frozen=True)
class SubscriptionIntent:
    """What a WebSub verification asks the subscriber to confirm (see chalicelib/websub.py)."""

    mode: str  # subscribe | unsubscribe
    topic: str
    lease_seconds: int | None = None


@dataclass
class WebResponse:
    status: int = 200
    body: bytes | str | dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # a WebSub verification: sent only if Chorus wants it (chalicelib/websub.py), else 404
    confirms: SubscriptionIntent | None = None


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
    gone: bool = False  # the record its CRM id names no longer exists (deleted in the CRM)


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


def parse_iso(value: object) -> datetime:
    if not isinstance(value, str):  # a null or a number where a provider documents a string
        raise ValueError(f"expected an ISO 8601 string, got {type(value).__name__}")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Provider:
    """What every provider declares, whatever its roles. A provider class is `Source`, `Sink` or
    both (HubSpot); the registry tells which from the class. One instance serves every connector
    of a process, so it holds no state: per-connector state lives in the store or the connector."""

    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = NoOptions
    # secret name -> "source" | "sink" | "both": which directions require it
    required_secrets: ClassVar[dict[str, str]] = {}
    # the namespace of the provider's user ids (`hn`, `bsky`); None: the provider's name
    identity_namespace: ClassVar[str | None] = None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"{type(self).__name__}.{name}: a provider instance is shared by every connector; "
            "keep state in the store or on the connector"
        )

    def validate_config(self, config: ConnectorConfig, options: Any) -> list[tuple[str, str]]:
        """Checks beyond the Options model that need the whole file (directions, secrets):
        (field, problem) pairs, empty when the file is fine. `options` is a parsed `Options`."""
        return []
