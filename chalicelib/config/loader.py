"""Load connector files (YAML in a folder, or the JSON bundle packaged with Lambda) and
validate them, reporting every problem by file and field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigError
from .connector import Connector
from .models import ConnectorConfig, Settings
from .secrets import SecretResolver

SETTINGS_FILE = "settings.yaml"
BUNDLE_PATH = Path(__file__).resolve().parent.parent / "_bundle" / "connectors.json"
Problem = tuple[str, str, str]


@dataclass
class ConnectorSet:
    """Every enabled connector by id, plus the settings. Built once per process."""

    connectors: dict[str, Connector] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)

    def get(self, connector_id: str) -> Connector | None:
        return self.connectors.get(connector_id)

    def sinks(self) -> list[Connector]:
        return [c for c in self.connectors.values() if c.config.is_sink]


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(file)"


def read_documents(config_dir: Path) -> tuple[list[tuple[str, Any]], Any, list[Problem]]:
    """(file name, parsed document) for each connector file, the settings document, problems."""
    import yaml  # only the CLI and the local hub read YAML; Lambda reads the JSON bundle

    docs: list[tuple[str, Any]] = []
    settings_doc: Any = {}
    problems: list[Problem] = []
    if not config_dir.is_dir():
        return docs, settings_doc, [(str(config_dir), "(folder)", "is not a folder")]
    for path in sorted(config_dir.glob("*.y*ml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark else "(file)"
            problems.append((path.name, where, f"not valid YAML: {getattr(exc, 'problem', exc)}"))
            continue
        if path.name == SETTINGS_FILE:
            settings_doc = document or {}
        else:
            docs.append((path.name, document))
    return docs, settings_doc, problems


def validate_documents(
    docs: list[tuple[str, Any]], settings_doc: Any
) -> tuple[list[tuple[str, ConnectorConfig, Any]], Settings, list[Problem]]:
    """Validate every document against the models and its provider's contract."""
    from ..providers import REGISTRY, get_provider, roles
    from ..providers.listener import Listener

    problems: list[Problem] = []
    try:
        settings = Settings.model_validate(settings_doc or {})
    except ValidationError as exc:
        settings = Settings()
        problems += [(SETTINGS_FILE, _field_path(e["loc"]), e["msg"]) for e in exc.errors()]
    valid: list[tuple[str, ConnectorConfig, Any]] = []
    seen: dict[str, str] = {}
    for name, document in docs:
        if not isinstance(document, dict):
            problems.append((name, "(file)", "must be a mapping with id, provider, ..."))
            continue
        try:
            config = ConnectorConfig.model_validate(document)
        except ValidationError as exc:
            problems += [(name, _field_path(e["loc"]), e["msg"]) for e in exc.errors()]
            continue
        if config.id in seen:
            problems.append((name, "id", f"'{config.id}' is already used by {seen[config.id]}"))
            continue
        seen[config.id] = name
        if config.provider not in REGISTRY:
            problems.append(
                (
                    name,
                    "provider",
                    f"unknown provider '{config.provider}' (known: {', '.join(sorted(REGISTRY))})",
                )
            )
            continue
        provider = get_provider(config.provider)
        provider_roles = roles(config.provider)
        before = len(problems)
        if config.is_source and "source" not in provider_roles:
            problems.append((name, "direction", f"provider '{config.provider}' cannot be a source"))
        if config.is_sink and "sink" not in provider_roles:
            problems.append((name, "direction", f"provider '{config.provider}' cannot be a sink"))
        for secret, needed_for in provider.required_secrets.items():
            needed = (
                needed_for == "both"
                or (needed_for == "source" and config.is_source)
                or (needed_for == "sink" and config.is_sink)
            )
            if needed and secret not in config.secrets:
                problems.append(
                    (name, f"secrets.{secret}", f"required by provider '{config.provider}' as a {needed_for}")
                )
        try:
            options = provider.Options.model_validate(config.options)
        except ValidationError as exc:
            problems += [(name, "options." + _field_path(e["loc"]), e["msg"]) for e in exc.errors()]
            continue
        problems += [(name, fld, msg) for fld, msg in provider.validate_config(config, options)]
        if config.schedule is not None and not isinstance(provider, Listener):
            problems.append((name, "schedule", f"provider '{config.provider}' is not a listener"))
        if (
            isinstance(provider, Listener)
            and provider.open_web
            and "keep_only_brand_matches" not in config.model_fields_set
        ):
            # the open web talks about everything: keep what names the brand unless told otherwise
            config = config.model_copy(update={"keep_only_brand_matches": True})
        if len(problems) == before:
            valid.append((name, config, options))
    return valid, settings, problems


def load_directory(config_dir: str | os.PathLike, resolver: SecretResolver | None = None) -> ConnectorSet:
    """Load and validate a folder of connector files; raise ConfigError listing every problem."""
    docs, settings_doc, problems = read_documents(Path(config_dir))
    valid, settings, more = validate_documents(docs, settings_doc)
    problems += more
    if problems:
        raise ConfigError(problems)
    return _build(valid, settings, resolver)


def load_bundle(path: Path = BUNDLE_PATH, resolver: SecretResolver | None = None) -> ConnectorSet:
    """Load the JSON bundle that `chorus bundle` writes into chalicelib/ for Lambda."""
    if not path.is_file():
        raise ConfigError(
            [(str(path), "(file)", "no connector bundle: run `chorus bundle` before `chalice package`")]
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    valid, settings, problems = validate_documents(
        [(d["file"], d["document"]) for d in data["connectors"]], data.get("settings") or {}
    )
    if problems:
        raise ConfigError(problems)
    return _build(valid, settings, resolver)


def load_connectors(resolver: SecretResolver | None = None) -> ConnectorSet:
    """CHORUS_CONFIG_DIR when set (local hub, tests), else the packaged bundle (Lambda)."""
    config_dir = os.environ.get("CHORUS_CONFIG_DIR")
    return load_directory(config_dir, resolver) if config_dir else load_bundle(resolver=resolver)


def write_bundle(config_dir: str | os.PathLike, path: Path = BUNDLE_PATH) -> Path:
    """Validate a folder and write it as the JSON bundle Lambda reads. Secrets stay references."""
    docs, settings_doc, problems = read_documents(Path(config_dir))
    _, _, more = validate_documents(docs, settings_doc)
    if problems + more:
        raise ConfigError(problems + more)
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "__init__.py").touch()
    bundle = {"connectors": [{"file": n, "document": d} for n, d in docs], "settings": settings_doc}
    path.write_text(json.dumps(bundle, indent=1, default=str), encoding="utf-8")
    return path


def _build(
    valid: list[tuple[str, ConnectorConfig, Any]], settings: Settings, resolver: SecretResolver | None
) -> ConnectorSet:
    resolver = resolver or SecretResolver()
    connectors = {cfg.id: Connector(cfg, options, resolver) for _, cfg, options in valid if cfg.enabled}
    return ConnectorSet(connectors=connectors, settings=settings)
