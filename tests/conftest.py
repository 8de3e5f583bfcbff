"""Test wiring: moto stands in for AWS, the real app and pipeline run on top of it."""

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

    from chalicelib.runtime.moto_patches import isolate_moto_writes

    isolate_moto_writes()  # workers on threads need DynamoDB's atomic writes (see there)
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
def hub(aws):
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
def client(aws):
    from chalice.test import Client

    import app as chalice_app

    with Client(chalice_app.app) as test_client:
        yield test_client


@pytest.fixture
def workers(hub):
    """Run the queue workers in-process until the queues are empty: workers.drain()."""
    import boto3

    from chalicelib.runtime.local import make_pollers, sqs_consumers
    from chalicelib.runtime.resources import ResourceNames

    class Workers:
        def __init__(self):
            names = ResourceNames.from_env()
            self.pollers = make_pollers(hub, sqs_consumers(boto3.client("sqs"), names), names)

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
    from chalicelib.sync import engine

    real_send = requests.adapters.HTTPAdapter.send

    def guarded_send(self, request, *args, **kwargs):
        host = requests.utils.urlparse(request.url).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1"):
            return real_send(self, request, *args, **kwargs)
        raise requests.ConnectionError(f"tests do not reach the network ({host})")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", guarded_send)
    monkeypatch.setattr(http_module, "_sleep", lambda seconds: None)
    monkeypatch.setattr(engine, "_sleep", lambda seconds: None)


@pytest.fixture
def sink_hub(aws, use_connectors, monkeypatch):
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
