"""Resolve secret references at run time, cached. Values never reach a log line."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from ..errors import SecretUnavailable

_CACHE_SECONDS = 300.0


class SecretResolver:
    """Turns `env:NAME`, `ssm:/path` and `secretsmanager:ARN` into values.

    SSM and Secrets Manager go through Powertools parameters (cached, imported lazily
    so the webhook path pays nothing for them when secrets come from the environment).
    """

    def __init__(self, environ: Callable[[str], str | None] = os.environ.get):
        self._environ = environ
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def resolve(self, ref: str) -> str:
        scheme, _, name = ref.partition(":")
        if scheme == "env":
            value = self._environ(name)
            if not value:
                raise SecretUnavailable(f"environment variable {name} is not set (secret {ref})")
            return value
        with self._lock:
            hit = self._cache.get(ref)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        value = self._fetch_remote(scheme, name, ref)
        with self._lock:
            self._cache[ref] = (time.monotonic() + _CACHE_SECONDS, value)
        return value

    @staticmethod
    def _fetch_remote(scheme: str, name: str, ref: str) -> str:
        try:
            from aws_lambda_powertools.utilities import parameters

            if scheme == "ssm":
                return str(parameters.get_parameter(name, decrypt=True, max_age=int(_CACHE_SECONDS)))
            if scheme == "secretsmanager":
                return str(parameters.get_secret(name, max_age=int(_CACHE_SECONDS)))
        except Exception as exc:  # the SDK raises many types; the reference is enough to debug
            raise SecretUnavailable(f"cannot read secret {ref}: {type(exc).__name__}") from None
        raise SecretUnavailable(f"unknown secret scheme in {ref}")
