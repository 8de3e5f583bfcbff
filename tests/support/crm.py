"""Shared pieces of the CRM connector tests: records to sync, the both-ways connector folder,
a fresh OAuth token cache per test, and no real waiting between retries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from chalicelib.schema import AdvocateRecord
from chalicelib.store.base import SyncState
from tests.support.paths import CRM_CONNECTORS


def record(n: int = 1, email: str | None = None, **extra) -> AdvocateRecord:
    values = dict(
        person_id=f"person-{n}",
        email=email if email is not None else f"fan{n}@example.com",
        display_name=f"Fan Number{n}",
        advocate_score=70 + n,
        advocate_tier="advocate",
        latest_nps=9,
        changed_at=datetime(2024, 5, 1, 10, n % 60, tzinfo=UTC),
    )
    values.update(extra)
    return AdvocateRecord(**values)


@pytest.fixture(autouse=True)
def fresh_tokens():
    from chalicelib.providers import oauth

    oauth.clear_cache()
    yield
    oauth.clear_cache()


@pytest.fixture
def sleeps(monkeypatch):
    """Retry waits, recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr("chalicelib.providers.http._sleep", lambda seconds: waited.append(seconds))
    return waited


@pytest.fixture
def crm(hub, use_connectors):
    """The hub with the both-ways CRM connectors: crm.connector(id), crm.hub, crm.http."""
    use_connectors(CRM_CONNECTORS)
    from chalicelib.runtime.aws import get_hub

    class Crm:
        hub = get_hub()
        http = requests.Session()

        def connector(self, connector_id: str):
            return self.hub.connectors.get(connector_id)

    return Crm()


def seed_written(hub, person_id: str, connector_id: str, crm_id: str, namespace: str, written: dict) -> None:
    """What the engine leaves after a successful write: sync state + the CRM id claimed."""
    from chalicelib.schema import IdentityRef

    hub.store.put_sync_state(
        SyncState(person_id, connector_id, record_hash="h", crm_id=crm_id, written=written)
    )
    hub.store.claim_identity(IdentityRef(namespace=namespace, value=crm_id), person_id)


def drain(hub, rounds: int = 20) -> None:
    """Run the queue workers of *this* hub (the `workers` fixture is bound to the default one)."""
    from chalicelib.runtime.local import make_pollers
    from chalicelib.runtime.resources import ResourceNames
    from tests.support.backends import consumers

    pollers = make_pollers(hub, consumers(hub), ResourceNames.from_env())
    for _ in range(rounds):
        if sum(p.poll_once() for p in pollers) == 0:
            return
