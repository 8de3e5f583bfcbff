"""Test wiring: the real app and pipeline on the local hub's storage (SQLite store, file blobs,
queues in a SQLite file) by default; on moto (AWS's test double, unpatched) for tests that take
the `aws` fixture or are marked `moto` (they look at DynamoDB, SQS or S3 themselves)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.paths import CONNECTORS, SINK_CONNECTORS
from tests.support.senders import SECRETS

TEST_CONNECTORS = CONNECTORS

# Before anything imports boto3 or the app (Powertools reads these at import).
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_SERVICE_NAME": "chorus",
        "CHORUS_CONFIG_DIR": str(TEST_CONNECTORS),
        **SECRETS,
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """A fresh moto account with Chorus's table, queues and bucket; cwd is a temp folder."""
    from moto import mock_aws

    monkeypatch.chdir(tmp_path)
    with mock_aws():
        import boto3

        from chalicelib.runtime.aws import reset_hub
        from chalicelib.runtime.resources import ResourceNames, create_resources

        create_resources(
            boto3.client("dynamodb"),
            boto3.client("sqs"),
            boto3.client("s3"),
            ResourceNames.from_env(),
            visibility_seconds=1,
        )
        reset_hub()
        yield
        reset_hub()


@pytest.fixture
def local_backend(monkeypatch, tmp_path):
    """The hub on the local hub's storage in tmp_path/.chorus: no moto, no AWS clients."""
    from chalicelib.runtime import aws as runtime_aws

    monkeypatch.chdir(tmp_path)
    state = tmp_path / ".chorus"
    state.mkdir()
    queues = _local_queues(state / "queues.sqlite3")

    def build():
        from chalicelib.config.loader import load_connectors
        from chalicelib.hub import Hub
        from chalicelib.runtime.resources import ResourceNames
        from chalicelib.store.local import open_local_storage

        names = ResourceNames.from_env()
        storage = open_local_storage(state)
        hub = Hub(
            connectors=load_connectors(),
            store=storage.store,
            blobs=storage.blobs,
            ingest_queue=queues[names.ingest_queue],
            sync_queue=queues[names.sync_queue],
        )
        hub.test_consumers = queues  # tests/support/backends.py: the workers' side of each queue
        return hub

    runtime_aws.reset_hub()
    monkeypatch.setattr(runtime_aws, "_factory", build)
    yield queues
    runtime_aws.reset_hub()


def _local_queues(path):
    from chalicelib.runtime.local_queue import LocalQueue
    from chalicelib.runtime.resources import MAX_RECEIVE_COUNT, ResourceNames

    names = ResourceNames.from_env()
    queues = {}
    for queue, dlq in ((names.ingest_queue, names.ingest_dlq), (names.sync_queue, names.sync_dlq)):
        queues[queue] = LocalQueue(
            path, queue, dead_letter=dlq, max_receives=MAX_RECEIVE_COUNT, visibility_seconds=1
        )
        queues[dlq] = LocalQueue(path, dlq, visibility_seconds=1)
    return queues


@pytest.fixture
def backend(request):
    """moto when the test takes `aws` or is marked `moto`, else the local hub's storage."""
    if "aws" in request.fixturenames or request.node.get_closest_marker("moto"):
        request.getfixturevalue("aws")
        return None
    return request.getfixturevalue("local_backend")


@pytest.fixture
def hub(backend):
    from chalicelib.runtime.aws import get_hub

    return get_hub()


@pytest.fixture
def use_connectors(monkeypatch):
    """Point the hub at another folder of connector files: use_connectors(path)."""

    def switch(path: Path) -> None:
        from chalicelib.runtime.aws import reset_hub

        monkeypatch.setenv("CHORUS_CONFIG_DIR", str(path))
        reset_hub()

    return switch


@pytest.fixture
def client(backend):
    from chalice.test import Client

    import app as chalice_app

    with Client(chalice_app.app) as test_client:
        yield test_client


@pytest.fixture
def workers(hub):
    """Run the queue workers in-process until the queues are empty: workers.drain()."""
    from chalicelib.runtime.local import make_pollers
    from chalicelib.runtime.resources import ResourceNames
    from tests.support.backends import consumers

    class Workers:
        def __init__(self):
            self.pollers = make_pollers(hub, consumers(hub), ResourceNames.from_env())

        def drain(self, rounds: int = 20) -> None:
            for _ in range(rounds):
                if sum(p.poll_once() for p in self.pollers) == 0:
                    return

    return Workers()


@pytest.fixture
def admin_headers():
    return {"Authorization": f"Bearer {SECRETS['CHORUS_ADMIN_TOKEN']}"}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Tests never leave the machine: HTTP to anything but loopback fails at once, unless a test
    mocks it (`responses` patches over this). Retry waits are skipped unless a test measures them."""
    import requests.adapters

    from chalicelib.providers import http as http_module

    real_send = requests.adapters.HTTPAdapter.send

    def guarded_send(self, request, *args, **kwargs):
        host = requests.utils.urlparse(request.url).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1"):
            return real_send(self, request, *args, **kwargs)
        raise requests.ConnectionError(f"tests do not reach the network ({host})")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", guarded_send)
    monkeypatch.setattr(http_module, "_sleep", lambda seconds: None)


@pytest.fixture
def sink_hub(backend, use_connectors, monkeypatch):
    """The hub with HubSpot as a sink; retry waits are recorded in hub.waits instead of slept."""
    use_connectors(SINK_CONNECTORS)
    waits: list[float] = []
    monkeypatch.setattr("chalicelib.providers.http._sleep", waits.append)
    from chalicelib.runtime.aws import get_hub

    hub = get_hub()
    hub.waits = waits
    return hub


@pytest.fixture
def sink_client(sink_hub):
    from chalice.test import Client

    import app as chalice_app

    with Client(chalice_app.app) as test_client:
        yield test_client


@pytest.fixture
def lhub(backend, use_connectors):
    """The hub with the listener connectors (the fixture folders' listening/ files) and a fixed clock,
    on the local hub's storage unless the test takes `aws` or is marked moto."""
    from chalicelib.runtime.aws import get_hub
    from tests.support.listener_fakes import CONNECTORS, NOW

    use_connectors(CONNECTORS)
    hub = get_hub()
    hub.clock = lambda: NOW
    return hub


@pytest.fixture
def algolia():
    """A fake HN Search behind https://hn.test/api/v1 (tests/support/listener_fakes.py)."""
    import responses

    from tests.support.listener_fakes import FakeAlgolia

    fake = FakeAlgolia()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, "https://hn.test/api/v1/search_by_date", callback=fake)
        yield fake
