"""Send a delivery to a hub signed the way its vendor signs it: `chorus send` and the console's
test delivery. The signature is made with the connector's own secrets by the provider's
`sign_test_delivery` and goes straight to the hub; it is never printed or returned."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode

from .config.connector import Connector
from .providers import get_source


@dataclass(frozen=True)
class SignedRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def signed_request(
    connector: Connector, body: bytes, base_url: str, now: float | None = None
) -> SignedRequest:
    """The request a vendor would send `body` with to this connector's webhook at `base_url`.
    CannotSign (providers.source) where only the vendor can sign."""
    url = f"{base_url.rstrip('/')}/webhooks/{connector.id}"
    signed = get_source(connector.provider).sign_test_delivery(
        body, connector, url, time.time() if now is None else now
    )
    if signed.query:
        url += "?" + urlencode(signed.query)
    return SignedRequest(url, {name.lower(): value for name, value in signed.headers.items()}, body)
