"""The test connector files and test secrets, assembled from the fixture folders: nothing here
lists providers. Each tests/fixtures/<folder>/ may hold, beside its payloads and samples.py:

- `connectors/*.yaml`: connector files for the webhook hub most tests run (CONNECTORS);
- `listening/*.yaml`: connector files for the listener hub (the `lhub` fixture);
- `crm/*.yaml`: connector files for the CRM hub (each CRM both ways: tests/support/crm.py);
- `secrets.yaml`: `TEST_...: value` for every `env:TEST_...` those files name.

Each set is copied into one folder per test process, since the hub loads a folder of files.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

import yaml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# set -> its settings.yaml (the listener hub's brand, so open-web items are kept by brand)
SETS: dict[str, dict | None] = {"connectors": None, "listening": {"brand_terms": ["Chorus"]}, "crm": None}
ADMIN_TOKEN = "admin-token-cdef"  # the harness's own, not a provider's


def connector_files(set_name: str) -> list[Path]:
    """Every fixture folder's connector files of one set."""
    return sorted(FIXTURES.glob(f"*/{set_name}/*.y*ml"))


@cache
def _assembled() -> Path:
    root = Path(tempfile.mkdtemp(prefix="chorus-test-connectors-"))
    atexit.register(shutil.rmtree, root, True)
    for set_name, settings in SETS.items():
        folder = root / set_name
        folder.mkdir()
        for path in connector_files(set_name):
            target = folder / path.name
            if target.exists():
                raise AssertionError(f"{path}: another fixture folder has a {set_name}/{path.name}")
            shutil.copyfile(path, target)
        if settings is not None:
            (folder / "settings.yaml").write_text(yaml.safe_dump(settings))
    return root


def connector_dir(set_name: str) -> Path:
    """The folder a hub loads for one set (`connectors`, `listening` or `crm`)."""
    return _assembled() / set_name


@cache
def fixture_secrets() -> dict[str, str]:
    """Every fixture folder's secrets.yaml, plus the admin token; a name declared twice with two
    values is an error, not a silent override."""
    secrets = {"CHORUS_ADMIN_TOKEN": ADMIN_TOKEN}
    for path in sorted(FIXTURES.glob("*/secrets.yaml")):
        for name, value in (yaml.safe_load(path.read_text()) or {}).items():
            if not isinstance(value, str) or secrets.get(name, value) != value:
                raise AssertionError(f"{path}: {name} must be a string declared once (or with one value)")
            secrets[name] = value
    return secrets
