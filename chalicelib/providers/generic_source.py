"""Generic mapped source: any tool that POSTs JSON (Google Forms through Apps Script, an
in-house form...). The connector file declares how deliveries are signed and where each
Chorus field sits, as JMESPath expressions (https://jmespath.org):

    provider: generic
    secrets: {signing: env:ACME_FORMS_SECRET}
    options:
      signature: {scheme: hmac, header: X-Acme-Signature, prefix: "sha256=", encoding: hex,
                  timestamp_header: X-Acme-Timestamp, signed_payload: "{timestamp}.{body}"}
      fields: {event_id: id, occurred_at: submitted_at, author.email: respondent.email,
               text: answers.comment, nps: answers.recommend}
      links: {hubspot: hidden.contact_id}

Schemes: `hmac` (sha256/sha1/sha512, hex or base64, optional prefix, optional timestamp header
joined into the signed string by `signed_payload`) or `standard-webhooks`. `chorus validate`
compiles every expression and names the bad one (options.fields.text: invalid JMESPath: ...).

A field may read a request header instead of the body: `header:webhook-id` (names in
HEADER_SOURCES, the headers kept on the queue message). With `standard-webhooks`, `event_id`
defaults to `header:webhook-id`, the spec's idempotency key ("remains the same no matter how
many times a webhook that has failed is retried"): retries de-duplicate, and two updates of one
object (`external_id`) are two events, the later version winning. In a batch (`items`) the
entries of one delivery share the header, so their event ids add the entry's position.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from ..errors import MalformedPayload
from ..schema import Author, IdentityRef, Interaction, InteractionKind, Rating
from .base import Delivery, ParseContext, Skipped, parse_iso, utc_from_epoch
from .signatures import (
    check_timestamp,
    parse_timestamp,
    sign,
    sign_standard_webhooks,
    verify_hmac,
    verify_standard_webhooks,
)
from .source import SignedTestDelivery, Source

# Request headers a field may name (`header:<name>`); kept on the queue message for parse
HEADER_SOURCES = ("webhook-id", "webhook-timestamp", "idempotency-key", "x-request-id")
HEADER_PREFIX = "header:"
STANDARD_WEBHOOKS_EVENT_ID = HEADER_PREFIX + "webhook-id"
FIELDS = (
    "event_id",
    "external_id",
    "event_type",
    "kind",
    "occurred_at",
    "updated_at",
    "text",
    "url",
    "thread_id",
    "nps",
    "rating",
    "rating_scale",
    "author.email",
    "author.handle",
    "author.display_name",
    "author.provider_user_id",
)


class SignatureScheme(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scheme: Literal["hmac", "standard-webhooks"] = "hmac"
    header: str = Field(default="X-Signature", min_length=1)
    algorithm: Literal["sha256", "sha1", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = Field(default="", description='e.g. "sha256="')
    timestamp_header: str | None = None
    timestamp_format: Literal["s", "ms", "iso"] = "s"
    tolerance_seconds: int = Field(default=300, gt=0)
    signed_payload: str = Field(
        default="{body}",
        pattern=r"\{body\}",
        description='How timestamp and body join, e.g. "{timestamp}.{body}".',
    )


class GenericOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signature: SignatureScheme = Field(default_factory=SignatureScheme)
    items: str | None = Field(default=None, description="JMESPath to a list when one delivery holds many.")
    fields: dict[str, str] = Field(description="Chorus field -> JMESPath expression on the entry.")
    links: dict[str, str] = Field(default_factory=dict, description="Identity namespace -> JMESPath.")
    kind: InteractionKind = "survey_response"
    rating_scale: float = Field(default=5.0, gt=0)
    public: bool = False


@lru_cache(maxsize=512)
def _compiled(expression: str) -> _Expression:
    import jmespath

    return _Expression(jmespath.compile(expression).parsed)


class _Expression:
    """A compiled JMESPath expression. jmespath's own `search` builds a new interpreter for
    every call (16 calls a delivery, ~20% of this parser's time); the interpreter holds no
    state between visits, so one serves every expression and thread."""

    _interpreter: Any = None  # a jmespath TreeInterpreter (jmespath has no type hints)

    def __init__(self, tree: dict) -> None:
        self._tree = tree
        if _Expression._interpreter is None:
            from jmespath.visitor import TreeInterpreter

            _Expression._interpreter = TreeInterpreter()

    def search(self, value: Any) -> Any:
        return self._interpreter.visit(self._tree, value)


class GenericSourceProvider(Source):
    name = "generic"
    Options = GenericOptions
    required_secrets = {"signing": "source"}
    kept_headers = HEADER_SOURCES

    def validate_config(self, config, options: GenericOptions) -> list[tuple[str, str]]:
        """Every expression compiles, every field name is known, event_id is mapped."""
        from jmespath.exceptions import JMESPathError

        problems: list[tuple[str, str]] = []
        if "event_id" not in _fields(options):
            problems.append(("options.fields.event_id", "required: the JMESPath to the delivery's unique id"))
        expressions = [("options.items", options.items)] if options.items else []
        for name, expression in options.fields.items():
            if name not in FIELDS:
                problems.append((f"options.fields.{name}", f"unknown field (known: {', '.join(FIELDS)})"))
            if expression.startswith(HEADER_PREFIX):
                if expression[len(HEADER_PREFIX) :].lower() not in HEADER_SOURCES:
                    problems.append(
                        (
                            f"options.fields.{name}",
                            f"only these headers can be read: {', '.join(HEADER_SOURCES)}",
                        )
                    )
                continue
            expressions.append((f"options.fields.{name}", expression))
        expressions += [(f"options.links.{ns}", expr) for ns, expr in options.links.items()]
        for where, expression in expressions:
            try:
                _compiled(expression)
            except JMESPathError as exc:
                problems.append((where, f"invalid JMESPath: {_describe(exc)}"))
        for namespace in options.links:
            try:
                IdentityRef(namespace=namespace, value="x")
            except ValueError:
                problems.append((f"options.links.{namespace}", "not a valid identity namespace (a-z0-9_:.-)"))
        payload = options.signature.signed_payload.replace("{body}", "").replace("{timestamp}", "")
        if "{" in payload or "}" in payload:
            problems.append(("options.signature.signed_payload", "only {timestamp} and {body} may appear"))
        if "{timestamp}" in options.signature.signed_payload and not options.signature.timestamp_header:
            problems.append(
                ("options.signature.timestamp_header", "required when signed_payload uses {timestamp}")
            )
        return problems

    def verify(self, request, connector, now) -> None:
        scheme, secret = connector.options.signature, connector.secret("signing")
        if scheme.scheme == "standard-webhooks":
            verify_standard_webhooks(request.headers, request.body, secret, now, scheme.tolerance_seconds)
            return
        stamp = ""
        if scheme.timestamp_header:
            stamp = request.header(scheme.timestamp_header) or ""
            check_timestamp(parse_timestamp(stamp, scheme.timestamp_format), now, scheme.tolerance_seconds)
        verify_hmac(
            request.header(scheme.header),
            key=secret,
            message=_signed_message(scheme, stamp, request.body),
            algorithm=scheme.algorithm,
            encoding=scheme.encoding,
            prefix=scheme.prefix,
        )

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        scheme, secret = connector.options.signature, connector.secret("signing")
        headers = {"content-type": "application/json"}
        if scheme.scheme == "standard-webhooks":
            msg_id, seconds = f"msg_{uuid.uuid4().hex}", int(now)
            signature = sign_standard_webhooks(msg_id, seconds, body, secret)
            headers |= {
                "webhook-id": msg_id,
                "webhook-timestamp": str(seconds),
                "webhook-signature": signature,
            }
            return SignedTestDelivery(headers)
        stamp = ""
        if scheme.timestamp_header:
            stamp = {"s": str(int(now)), "ms": str(int(now * 1000))}.get(
                scheme.timestamp_format, datetime.fromtimestamp(int(now), tz=UTC).isoformat()
            )
            headers[scheme.timestamp_header] = stamp
        message = _signed_message(scheme, stamp, body)
        headers[scheme.header] = sign(
            secret, message, algorithm=scheme.algorithm, encoding=scheme.encoding, prefix=scheme.prefix
        )
        return SignedTestDelivery(headers)

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        from jmespath.exceptions import JMESPathError

        data, options = delivery.json(), delivery.connector.options
        entries = _compiled(options.items).search(data) if options.items else [data]
        if not isinstance(entries, list):
            raise MalformedPayload(f"options.items '{options.items}' did not select a list")
        results: list[Interaction | Skipped] = []
        for position, entry in enumerate(entries):
            try:
                results.append(self._entry(entry, delivery, position if options.items else None))
            except (JMESPathError, KeyError, TypeError, ValueError) as exc:
                results.append(Skipped("malformed_entry", f"{type(exc).__name__}: {exc}"))
        return results

    def _entry(self, entry: Any, delivery: Delivery, position: int | None) -> Interaction:
        connector, options = delivery.connector, delivery.connector.options
        values = {name: _value(expr, entry, delivery) for name, expr in _fields(options).items()}
        if values.get("event_id") in (None, ""):
            raise ValueError("the event_id expression found nothing")
        event_id = str(values["event_id"])
        if position is not None and _fields(options)["event_id"].startswith(HEADER_PREFIX):
            event_id += f":{position}"  # one header for the whole batch
        external_id = str(values.get("external_id") or event_id)
        kind = values.get("kind") or options.kind
        if kind not in get_args(InteractionKind):
            raise ValueError(f"kind '{kind}' is not one of {get_args(InteractionKind)}")
        rating = None
        if values.get("rating") not in (None, ""):
            rating = Rating(
                value=float(values["rating"]), scale=float(values.get("rating_scale") or options.rating_scale)
            )
        links = [
            IdentityRef(namespace=ns, value=str(value).strip())
            for ns, expr in options.links.items()
            if (value := _compiled(expr).search(entry)) not in (None, "")
        ]
        occurred = _moment(values.get("occurred_at")) or delivery.received_at
        return self.interaction(
            connector,
            external_id,
            kind=kind,
            event_id=event_id,
            event_type=_text(values.get("event_type")),
            occurred_at=occurred,
            updated_at=_moment(values.get("updated_at")),
            text=_text(values.get("text")),
            url=_text(values.get("url")),
            thread_id=_text(values.get("thread_id")),
            author=Author(
                email=_text(values.get("author.email")),
                handle=_text(values.get("author.handle")),
                display_name=_text(values.get("author.display_name")),
                provider_user_id=_text(values.get("author.provider_user_id")),
            ),
            links=links,
            nps=None if values.get("nps") in (None, "") else int(float(values["nps"])),
            rating=rating,
            ratings=[rating] if rating else [],
            public=options.public,
        )


def _fields(options: GenericOptions) -> dict[str, str]:
    """The field mapping, with Standard Webhooks' idempotency key as the default event id."""
    if options.signature.scheme == "standard-webhooks" and "event_id" not in options.fields:
        return {**options.fields, "event_id": STANDARD_WEBHOOKS_EVENT_ID}
    return options.fields


def _value(expression: str, entry: Any, delivery: Delivery) -> Any:
    if expression.startswith(HEADER_PREFIX):
        return delivery.headers.get(expression[len(HEADER_PREFIX) :].lower())
    return _compiled(expression).search(entry)


def _describe(exc: Exception) -> str:
    """A one-line reason from jmespath's ParseError / LexerError (their str() spans lines)."""
    from jmespath.exceptions import IncompleteExpressionError

    if isinstance(exc, IncompleteExpressionError):
        reason = "incomplete expression"
    else:
        reason = getattr(exc, "message", None) or getattr(exc, "msg", None) or str(exc).splitlines()[0]
    position = getattr(exc, "lex_position", None)
    return f"{reason} at character {position}" if position is not None else reason


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, list):
        return "\n".join(str(v) for v in value if v not in (None, "")) or None
    return str(value)


def _moment(value: Any):
    """ISO-8601 text, or epoch seconds / milliseconds (numbers above 1e11 are milliseconds)."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) or str(value).replace(".", "", 1).isdigit():
        number = float(value)
        return utc_from_epoch(number, "ms" if number > 1e11 else "s")
    return parse_iso(str(value))


def _signed_message(scheme: SignatureScheme, stamp: str, body: bytes) -> bytes:
    """`signed_payload` with its {timestamp} and {body} filled in, as the sender signs it."""
    before, _, after = scheme.signed_payload.partition("{body}")
    return before.replace("{timestamp}", stamp).encode() + body + after.replace("{timestamp}", stamp).encode()
