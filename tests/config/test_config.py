"""Connector files: validation names the file and the field; secrets are references only."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.cli import main, schema_documents
from tests.support.paths import ROOT


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)


def run_validate(folder: Path) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "validate", str(folder)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_shipped_demo_connectors_are_valid():
    code, out = run_validate(ROOT / "connectors")
    assert code == 0, out


@pytest.mark.parametrize(
    "text,field,message",
    [
        ("id: Bad_Id\nprovider: typeform\nsecrets: {signing: env:A}\n", "id", "pattern"),
        ("id: a\nprovider: surveyorama\n", "provider", "unknown provider 'surveyorama'"),
        ("id: a\nprovider: typeform\nsecrets: {signing: hunter2}\n", "secrets", "must be a reference"),
        ("id: a\nprovider: typeform\n", "secrets.signing", "required by provider 'typeform'"),
        (
            "id: a\nprovider: typeform\nsecrets: {signing: env:A}\noptions: {colour: red}\n",
            "options.colour",
            "Extra inputs",
        ),
        ("id: a\nprovider: file\ndirection: source\n", "direction", "cannot be a source"),
        (
            "id: a\nprovider: typeform\nsecrets: {signing: env:A}\nunknown_key: 1\n",
            "unknown_key",
            "Extra inputs",
        ),
        ("id: a\nprovider: [typeform\n", "line", "not valid YAML"),
    ],
)
def test_each_problem_names_file_and_field(tmp_path, text, field, message):
    write(tmp_path, "broken.yaml", text)
    code, out = run_validate(tmp_path)
    assert code == 1
    line = next(l for l in out.splitlines() if l.startswith("broken.yaml:"))
    assert f": {field}" in line and message in line, out


def test_duplicate_ids_and_bad_settings_are_reported(tmp_path):
    write(tmp_path, "a.yaml", "id: same\nprovider: file\ndirection: sink\n")
    write(tmp_path, "b.yaml", "id: same\nprovider: file\ndirection: sink\n")
    write(tmp_path, "settings.yaml", "scoring: {recency_half_life_days: -1}\n")
    code, out = run_validate(tmp_path)
    assert code == 1
    assert "b.yaml: id: 'same' is already used by a.yaml" in out
    assert "settings.yaml: scoring.recency_half_life_days" in out


def test_schemas_on_disk_match_the_models():
    for name, document in schema_documents().items():
        on_disk = json.loads((ROOT / "schemas" / name).read_text())
        assert on_disk == document, f"schemas/{name} is stale: run `chorus schema`"


def test_schema_command_writes_every_schema(tmp_path):
    assert main(["schema", "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == set(schema_documents())
