"""Types shared by every model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime, normalised to UTC. Naive datetimes are rejected."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class IdentityRef(Model):
    """One identity of a person: `namespace` says what kind (email, x, hubspot, x_handle...)."""

    namespace: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_:.-]+$")
    value: str = Field(min_length=1, max_length=512)

    @property
    def key(self) -> str:
        return f"{self.namespace}#{self.value}"
