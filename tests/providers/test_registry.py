"""Every registered provider fits the route and the contract."""

import pytest

from chalicelib import web
from chalicelib.providers import REGISTRY, get_provider


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_provider_is_well_formed(name):
    provider = get_provider(name)
    assert provider.name == name or name in getattr(provider, "aliases", (name,)), name
    assert provider.is_source or provider.is_sink
    if provider.is_source:
        missing = set(provider.content_types) - {t.lower() for t in web.WEBHOOK_CONTENT_TYPES}
        assert not missing, f"{name} accepts {missing}, which the webhook route would answer with 415"
        assert set(provider.handshake_methods) <= {"GET", "HEAD", "POST"}
    if provider.is_sink:
        assert provider.batch_max >= 1 and provider.rate_limit[0] >= 1


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
