"""What an admin writes: one connector per YAML file, plus an optional settings.yaml."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SECRET_REF_PATTERN = r"^(env:[A-Za-z_][A-Za-z0-9_]*|ssm:/[A-Za-z0-9_.\-/]+|secretsmanager:[A-Za-z0-9:/_+=.@\-]+)$"
SecretRef = str


class ConnectorConfig(BaseModel):
    """One connector instance. `options` are checked against the provider's own Options model."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
                    description="Used in the webhook URL: /webhooks/{id}")
    provider: str = Field(min_length=1)
    direction: Literal["source", "sink", "both"] = "source"
    enabled: bool = True
    description: str | None = None
    secrets: dict[str, SecretRef] = Field(
        default_factory=dict,
        description="Secret references (env:NAME, ssm:/path, secretsmanager:ARN); never values.")
    options: dict[str, Any] = Field(default_factory=dict)
    mapping: dict[str, str] = Field(
        default_factory=dict, description="Sinks: Chorus field -> CRM property name.")
    brand_terms: list[str] = Field(default_factory=list)
    keep_only_brand_matches: bool = Field(
        default=False,
        description="Sources whose traffic is not already about the brand (a whole community, a "
                    "Slack workspace): skip interactions that match no brand term (settings' or this "
                    "connector's). Edits and deletions of an interaction already stored still apply.")

    @field_validator("secrets")
    @classmethod
    def _secret_refs_only(cls, value: dict[str, str]) -> dict[str, str]:
        import re
        for name, ref in value.items():
            if not isinstance(ref, str) or not re.match(SECRET_REF_PATTERN, ref):
                raise ValueError(
                    f"secret '{name}' must be a reference (env:NAME, ssm:/path or "
                    f"secretsmanager:ARN), not a literal value")
        return value

    @property
    def is_source(self) -> bool:
        return self.direction in ("source", "both")

    @property
    def is_sink(self) -> bool:
        return self.direction in ("sink", "both")


class ScoringWeights(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nps: float = 30.0
    sentiment: float = 20.0
    reach: float = 15.0
    frequency: float = 10.0
    recency: float = 10.0
    public_advocacy: float = 15.0


class TierThresholds(BaseModel):
    """A person is in the first tier whose minimum their score reaches, else `at_risk`."""

    model_config = ConfigDict(extra="forbid")
    advocate: float = 55.0
    promoter: float = 30.0
    neutral: float = 0.0
    detractor: float = -25.0


class ScoringSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weights: ScoringWeights = Field(default_factory=ScoringWeights)
    tiers: TierThresholds = Field(default_factory=TierThresholds)
    recency_half_life_days: float = Field(default=30.0, gt=0)
    frequency_saturation: int = Field(default=10, gt=0, description="Interactions for full points.")
    reach_saturation_followers: int = Field(default=100_000, gt=1)
    advocacy_saturation: int = Field(default=5, gt=0, description="Positive public mentions for full points.")
    sync_score_delta: float = Field(
        default=5.0, ge=0, description="Score moves smaller than this, inside a tier, are not synced.")


class Settings(BaseModel):
    """settings.yaml beside the connector files. Every field has a default."""

    model_config = ConfigDict(extra="forbid")
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    brand_terms: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(default=6 * 1024 * 1024, gt=0,
                                description="Deliveries above this get 413 (Lambda's payload limit).")
    dedup_ttl_days: int = Field(default=7, gt=0)
