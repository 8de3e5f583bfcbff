"""The source role: a provider that receives webhooks. Ingest calls, in order: `handshake` (GET/HEAD),
the size and `content_types` checks, `verify`, `handshake` again for a POST challenge, `check_body`,
then enqueues and answers with `acknowledge`. The process worker later calls `parse`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..config.connector import Connector
from ..schema import Interaction
from .base import (
    JSON_TYPES,
    Delivery,
    InboundRequest,
    ParseContext,
    Provider,
    Skipped,
    WebResponse,
    interaction_id,
    is_json_type,
)
from .signatures import BodySignature


def new_interaction(provider: str, connector: Connector, external_id: str, **fields: Any) -> Interaction:
    """The envelope of every parsed interaction: its stable id (one per connector and provider
    object, so a redelivery or an edit replaces it), connector and provider. Parsers give the rest."""
    return Interaction(
        interaction_id=interaction_id(connector.id, external_id),
        connector_id=connector.id,
        provider=provider,
        external_id=external_id,
        **fields,
    )


class CannotSign(Exception):
    """Only the vendor can produce this source's deliveries (the reason says why)."""


@dataclass(frozen=True)
class SignedTestDelivery:
    """What to send with a test body so that this hub accepts it as the vendor's."""

    headers: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)


class Source(Provider):
    """Base of every source. Override only what is special about yours."""

    content_types: ClassVar[tuple[str, ...]] = JSON_TYPES
    handshake_methods: ClassVar[tuple[str, ...]] = ()
    # the common scheme, declared (header names lower-case); otherwise override verify()
    body_signature: ClassVar[BodySignature | None] = None
    # headers worth keeping on the queue message for parse (lower-case); others are dropped
    kept_headers: ClassVar[tuple[str, ...]] = ()
    # event type -> the method that parses one such event, declared at the end of the class body
    # (`events = {"tweet_create_events": _tweet, ...}`); `handler_for` looks it up. A handler
    # returns what its provider's parse collects: one Interaction | Skipped, or a list of them.
    events: ClassVar[Mapping[str, Callable[..., Any]]] = {}
    # requests per window of seconds of the API `parse` fetches id-only objects from; when set,
    # parse's ctx.http takes each call from the connector's budget and a 429 parks it
    fetch_rate_limit: ClassVar[tuple[int, float] | None] = None
    # when the provider's ids name one object across the whole platform (a Graph API comment id,
    # a YouTube video id), its cross-connector key prefix: two connectors that see the object
    # store one interaction (pipeline/crosskey.py); else the key is the connector and the id
    object_key: ClassVar[str | None] = None

    def handshake(self, request: InboundRequest, connector: Connector) -> WebResponse | None:
        """Answer a GET/HEAD verification request, or a POST challenge (called after verify)."""
        return None

    def verify(self, request: InboundRequest, connector: Connector, now: float) -> None:
        """Raise a `SignatureError` (or another `ChorusError`) unless the delivery is authentic."""
        if self.body_signature is None:
            raise NotImplementedError(f"{self.name} declares no body_signature and no verify()")
        self.body_signature.verify(request.headers, request.body, connector.secret("signing"))

    def check_body(self, request: InboundRequest) -> None:
        """Cheap well-formedness check at ingest, so a malformed body gets 400 right away."""
        if is_json_type(request.content_type):
            request.json()

    def queued_body(self, request: InboundRequest, connector: Connector) -> bytes:
        """The body as it is queued, after verify: a secret the vendor echoes in the body (Zoho's
        channel token) is removed here so it never reaches the queue, dead letters or logs."""
        return request.body

    def acknowledge(self, request: InboundRequest, connector: Connector) -> WebResponse:
        return WebResponse(200, {"status": "accepted"})

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        """The delivery's interactions, and a `Skipped` for each entry that yields none."""
        raise NotImplementedError(f"{self.name} declares no parse()")

    def interaction(self, connector: Connector, external_id: str, **fields: Any) -> Interaction:
        """An Interaction of this source (see `new_interaction`)."""
        if self.object_key and "key" not in fields:
            fields["key"] = f"{self.object_key}:{external_id}"
        return new_interaction(self.name, connector, external_id, **fields)

    def handler_for(self, event_type: str) -> Callable[..., Any] | None:
        """The bound handler `events` declares for this event type, or None."""
        handler = self.events.get(event_type)
        return None if handler is None else handler.__get__(self, type(self))

    def sign_test_delivery(
        self, body: bytes, connector: Connector, url: str, now: float
    ) -> SignedTestDelivery:
        """Headers and query the vendor would send with `body` to `url` at `now`, signed with the
        connector's own secrets: for `chorus send` and the console's test delivery. The result is
        sent to the hub, never shown. CannotSign where only the vendor can sign."""
        if self.body_signature is None:
            raise CannotSign(f"{self.name} declares no body_signature and no sign_test_delivery()")
        headers = self.body_signature.sign(body, connector.secret("signing"))
        return SignedTestDelivery({"content-type": self.content_types[0], **headers})
