"""Every registered listener (a poller: pipeline/poll.py) ships fixtures and a test connector,
declares its budget and page size, and answers a webhook POST with 405, never a 500."""

from __future__ import annotations

import pytest

from chalicelib.providers import REGISTRY, get_provider
from tests.support.paths import FIXTURES


def is_listener(name: str) -> bool:
    from chalicelib.providers.listener import Listener

    return isinstance(get_provider(name), Listener)


LISTENERS = sorted(name for name in REGISTRY if is_listener(name))


@pytest.mark.parametrize("name", LISTENERS)
def test_the_listener_is_well_formed(name):
    provider = get_provider(name)
    assert provider.page_size >= 1 and provider.poll_rate_limit[0] >= 1
    assert (FIXTURES / name).is_dir() and any((FIXTURES / name).iterdir()), f"tests/fixtures/{name}/"


@pytest.mark.parametrize("name", LISTENERS)
def test_a_webhook_to_a_listener_is_405(name, lhub):
    from chalicelib.pipeline.ingest import receive_webhook
    from chalicelib.providers.base import InboundRequest

    connector = next((c for c in lhub.connectors.connectors.values() if c.provider == name), None)
    assert connector is not None, (
        f"no test connector: tests/fixtures/<folder>/listening/<id>.yaml, provider {name}"
    )
    answer = receive_webhook(
        lhub,
        connector.id,
        InboundRequest("POST", "https://hub.test/", "/", {"content-type": "application/json"}, {}, b"{}"),
    )
    assert answer.status == 405
