"""Resolve every secret reference of a connector set at start, naming the ones that fail.

`chorus serve` and `chorus validate --resolve` run this before anything answers a delivery, so
a missing `env:` variable is one line on the operator's terminal, not an HTTP 500 at the first
delivery. Values are resolved and dropped: only the reference is ever printed.
"""

from __future__ import annotations

from ..errors import SecretUnavailable
from .loader import ConnectorSet

Problem = tuple[str, str, str]


def unresolved_secrets(connectors: ConnectorSet) -> list[Problem]:
    """(connector id, secrets.NAME, why) for each reference that does not resolve, in id order."""
    problems = []
    for connector_id in sorted(connectors.connectors):
        connector = connectors.connectors[connector_id]
        for name in sorted(connector.config.secrets):
            try:
                connector.secret(name)
            except SecretUnavailable as exc:
                problems.append((connector_id, f"secrets.{name}", str(exc)))
    return problems
