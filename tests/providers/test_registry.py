"""Every registered provider fits the route and the contract."""

import pytest

from chalicelib import web
from chalicelib.providers import REGISTRY, get_provider, get_sink, get_source, roles
from chalicelib.providers.base import Provider
from chalicelib.providers.sink import Sink
from chalicelib.providers.source import Source


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_provider_is_well_formed(name):
    provider = get_provider(name)
    assert isinstance(provider, Provider)
    assert provider.name == name or name in getattr(provider, "aliases", (name,)), name
    assert roles(name), f"{name} is neither a Source nor a Sink"
    if "source" in roles(name):
        source = get_source(name)
        missing = set(source.content_types) - {t.lower() for t in web.WEBHOOK_CONTENT_TYPES}
        assert not missing, f"{name} accepts {missing}, which the webhook route would answer with 415"
        assert set(source.handshake_methods) <= {"GET", "HEAD", "POST"}
        assert type(source).parse is not Source.parse, f"{name} is a source without parse()"
    if "sink" in roles(name):
        sink = get_sink(name)
        assert sink.batch_max >= 1 and sink.rate_limit[0] >= 1
        assert type(sink).upsert is not Sink.upsert, f"{name} is a sink without upsert()"


def test_roles_come_from_the_class():
    assert roles("hubspot") == {"source", "sink"}
    assert roles("typeform") == {"source"}
    assert roles("file") == {"sink"}
    with pytest.raises(KeyError):
        get_sink("typeform")
    with pytest.raises(KeyError):
        get_source("file")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_a_provider_instance_holds_no_state(name):
    """One instance serves every connector of a process: state set on it would leak between them."""
    provider = get_provider(name)
    assert vars(provider) == {}
    with pytest.raises(AttributeError, match="shared by every connector"):
        provider.api_usage = {}


def test_app_import_loads_no_provider_module():
    import subprocess
    import sys

    modules = sorted({target.partition(":")[0] for target in REGISTRY.values()})
    code = (
        f"import sys, app; loaded = [m for m in {modules!r} if m in sys.modules]; "
        "print(','.join(sorted(loaded)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"app import loaded provider modules eagerly: {out}"
