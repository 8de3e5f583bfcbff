"""One signed sample delivery per test connector, for the benchmarks and the robustness suite.

Signed with plain hmac/hashlib/base64 as each provider documents it (the helpers in
tests/senders.py and tests/social_senders.py), never with chalicelib's own signing code.
Each fixture folder declares its own in tests/fixtures/<folder>/samples.py (SAMPLES); the
conformance suite fails for a registered source that has none.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

from tests.support.paths import CONNECTORS
from tests.support.senders import FIXTURES

HOST = "http://localhost"  # what the Chalice test client and the benchmarks put in request.url


@dataclass(frozen=True)
class Handshake:
    """A handshake request as the vendor sends it, and the answer its docs require.

    `expect(status, body)` is the vendor's acceptance test of the answer, computed here with
    plain hmac/hashlib. `proves_secret`: the answer shows the hub holds the connector's secret,
    so a hub with another secret must not give it."""

    method: str
    query: dict[str, str] = field(default_factory=dict)
    expect: Callable[[int, bytes], bool] = lambda status, body: 200 <= status < 300
    body: bytes = b""
    headers: Callable[[bytes, float], dict[str, str]] = lambda body, now: {}
    proves_secret: bool = False


@dataclass
class Sample:
    """A delivery for one connector: sign(body, url, now) -> (headers, query)."""

    connector_id: str
    provider: str
    fixture: str
    sign: Callable[[bytes, str, float], tuple[dict[str, str], dict[str, str]]]
    # URL fragment -> fixture, for providers whose parse fetches the object from their API (and its token)
    api: dict[str, str] = field(default_factory=dict)
    timestamped: bool = False  # the scheme signs a timestamp (a replay window applies)
    signs_body: bool = True  # False: a shared secret (URL token, header key) vouches, not a body MAC
    # the body without the credential it carries, for schemes whose secret travels in the body
    unsigned: Callable[[bytes], bytes] = lambda body: body
    handshakes: tuple[Handshake, ...] = ()  # one per method the source answers a handshake on

    @property
    def body(self) -> bytes:
        return (FIXTURES / self.fixture).read_bytes()

    @property
    def path(self) -> str:
        return f"/webhooks/{self.connector_id}"

    def request(self, now: float | None = None, body: bytes | None = None, host: str = HOST):
        """(path with query, headers, body), signed at `now`."""
        body = self.body if body is None else body
        url = host + self.path
        headers, query = self.sign(body, url, time.time() if now is None else now)
        return self.path + ("?" + urlencode(query) if query else ""), headers, body


def json_headers(headers: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/json", **headers}


def _load_folder(path: Path) -> list[Sample]:
    spec = importlib.util.spec_from_file_location(f"tests.fixtures.{path.parent.name}.samples", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.SAMPLES)


@cache
def all_samples() -> tuple[Sample, ...]:
    """Every tests/fixtures/<folder>/samples.py's SAMPLES."""
    return tuple(s for path in sorted(FIXTURES.glob("*/samples.py")) for s in _load_folder(path))


def available_samples(registry: dict[str, str] | None = None) -> list[Sample]:
    """The samples of the registered providers. A sample whose connector file or fixture is
    missing is an error here, never silently left out."""
    if registry is None:
        from chalicelib.providers import REGISTRY as registry
    samples = [s for s in all_samples() if s.provider in registry]
    broken = [
        s.connector_id
        for s in samples
        if not (FIXTURES / s.fixture).is_file() or not (CONNECTORS / f"{s.connector_id}.yaml").is_file()
    ]
    assert not broken, f"samples without their fixture or connector file: {broken}"
    return samples


def samples_of(provider: str) -> list[Sample]:
    return [s for s in all_samples() if s.provider == provider]


def registered_sources() -> list[str]:
    """Every registered webhook source by name; listeners poll, they take no webhooks."""
    from chalicelib.providers import REGISTRY, get_provider, roles
    from chalicelib.providers.listener import Listener

    return sorted(n for n in REGISTRY if "source" in roles(n) and not isinstance(get_provider(n), Listener))


def source_cases() -> list:
    """(provider, sample) pytest params generated from the registry: every sample of every
    registered source. A source without one is a case of its own, `<name>-NO-SAMPLE` with
    sample None, so each suite fails for it instead of leaving it out."""
    import pytest

    cases = []
    for name in registered_sources():
        samples = samples_of(name)
        if not samples:
            cases.append(pytest.param(name, None, id=f"{name}-NO-SAMPLE"))
        cases += [pytest.param(name, s, id=s.connector_id) for s in samples]
    return cases


def handshake_cases() -> list:
    """(provider, sample, handshake) pytest params: every declared handshake of every registered
    source, and a `<name>-<METHOD>-NO-CASE` param (sample and handshake None) for each method
    a source answers handshakes on that no sample declares, so the suite fails for it."""
    import pytest

    from chalicelib.providers import get_source

    cases = []
    for name in registered_sources():
        samples = samples_of(name)
        declared = {h.method for s in samples for h in s.handshakes}
        for method in get_source(name).handshake_methods:
            if method not in declared:
                cases.append(pytest.param(name, None, None, id=f"{name}-{method}-NO-CASE"))
        cases += [
            pytest.param(name, s, h, id=f"{s.connector_id}-{h.method}") for s in samples for h in s.handshakes
        ]
    return cases


def sample_emails() -> set[str]:
    """Every email address in every fixture: none may ever reach a log line."""
    import re

    pattern = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
    found: set[str] = set()
    for path in FIXTURES.rglob("*"):
        if path.is_file():
            found |= {m.decode() for m in pattern.findall(path.read_bytes())}
    return found
