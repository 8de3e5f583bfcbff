"""A loaded connector: its file, its provider's parsed options, and lazy secret access."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ..errors import SecretUnavailable
from .models import ConnectorConfig
from .secrets import SecretResolver


class Connector:
    """What providers and pipeline steps receive. Secrets resolve on first use, then cache."""

    def __init__(self, config: ConnectorConfig, options: BaseModel, resolver: SecretResolver):
        self.config = config
        self.options: Any = options
        self._resolver = resolver

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def provider(self) -> str:
        return self.config.provider

    def has_secret(self, name: str) -> bool:
        return name in self.config.secrets

    def secret(self, name: str) -> str:
        ref = self.config.secrets.get(name)
        if ref is None:
            raise SecretUnavailable(f"connector {self.id} has no secret '{name}'")
        return self._resolver.resolve(ref)

    def __repr__(self) -> str:  # never shows secret values
        return f"Connector(id={self.id!r}, provider={self.provider!r})"
