"""Adding a provider is one module, one fixture folder and one registry line: the test connector
files and secrets come from the fixture folders (tests/support/fixture_folders.py), and a
registered provider whose folder is missing fails here instead of being skipped elsewhere."""

from __future__ import annotations

import re

import pytest
import yaml

from chalicelib.providers import REGISTRY
from tests.support.fixture_folders import SETS, connector_files, fixture_secrets
from tests.support.paths import SINK_CONNECTORS, TESTS


def _provider_folders() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for set_name in SETS:
        for path in connector_files(set_name):
            found.setdefault(yaml.safe_load(path.read_text())["provider"], set()).add(path.parent.parent.name)
    return found


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_registered_provider_has_a_fixture_folder_with_a_test_connector(name):
    assert name in _provider_folders(), (
        f"provider '{name}' has no test connector: add tests/fixtures/<folder>/connectors/<id>.yaml "
        "(or listening/ for a listener, crm/ for a CRM both ways) with `provider: {name}`"
    )


def test_every_env_secret_of_a_test_connector_is_declared_in_its_fixture_folder():
    files = [p for s in SETS for p in connector_files(s)] + sorted(SINK_CONNECTORS.glob("*.yaml"))
    named = {(p, ref) for p in files for ref in re.findall(r"env:(\w+)", p.read_text())}
    missing = sorted(f"{p.relative_to(TESTS)}: {ref}" for p, ref in named if ref not in fixture_secrets())
    assert not missing, f"declare these in the fixture folder's secrets.yaml: {missing}"


@pytest.mark.parametrize("legacy", ["connectors", "connectors_listeners", "connectors_crm"])
def test_no_central_connector_folder_is_left(legacy):
    left = sorted(p.name for p in (TESTS / legacy).glob("*.y*ml"))
    assert not left, f"tests/{legacy}/ {left}: move each file to tests/fixtures/<provider>/ (see SETS)"
