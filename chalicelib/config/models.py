"""What an admin writes: one connector per YAML file, plus an optional settings.yaml."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SECRET_REF_PATTERN = (
    r"^(env:[A-Za-z_][A-Za-z0-9_]*|ssm:/[A-Za-z0-9_.\-/]+|secretsmanager:[A-Za-z0-9:/_+=.@\-]+)$"
)
SecretRef = str


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests: int = Field(gt=0)
    per_seconds: float = Field(gt=0)


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Schedule(BaseModel):
    """How often a listener polls: `every: 15m` (s, m, h or d)."""

    model_config = ConfigDict(extra="forbid")
    every: str = Field(default="15m", pattern=r"^[1-9][0-9]*[smhd]$")

    @property
    def seconds(self) -> int:
        return int(self.every[:-1]) * DURATION_UNITS[self.every[-1]]


class ConnectorConfig(BaseModel):
    """One connector instance. `options` are checked against the provider's own Options model."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Used in the webhook URL: /webhooks/{id}"
    )
    provider: str = Field(min_length=1)
    direction: Literal["source", "sink", "both"] = "source"
    enabled: bool = True
    description: str | None = None
    secrets: dict[str, SecretRef] = Field(
        default_factory=dict,
        description="Secret references (env:NAME, ssm:/path, secretsmanager:ARN); never values.",
    )
    options: dict[str, Any] = Field(default_factory=dict)
    mapping: dict[str, str] = Field(
        default_factory=dict, description="Sinks: Chorus field -> CRM property name."
    )
    brand_terms: list[str] = Field(default_factory=list)
    keep_only_brand_matches: bool = Field(
        default=False,
        description="Sources whose traffic is not already about the brand (a whole community, a "
        "Slack workspace): skip interactions that match no brand term (settings' or this "
        "connector's). Edits and deletions of an interaction already stored still apply.",
    )
    on_crm_delete: Literal["keep_deleted", "recreate"] = Field(
        default="keep_deleted",
        description="Sinks: what a record deleted in the CRM becomes. keep_deleted: Chorus never "
        "writes that person to this CRM again (until the CRM restores the record or holds a new "
        "one for them); recreate: the next write creates it afresh. A privacy (GDPR) deletion is "
        "never recreated.",
    )
    rate_limit: RateLimit | None = Field(
        default=None,
        description="Sinks: the CRM account's request budget, if lower than the provider's default. "
        "Listeners: the API's request budget, if lower than the provider's documented limit.",
    )
    schedule: Schedule | None = Field(
        default=None,
        description="Listeners (pollers): how often to fetch what is new; default every 15m.",
    )
    log_bodies: bool = Field(
        default=False,
        description="Sources: keep accepted deliveries' bodies in the delivery log (never an erased person's).",
    )

    @field_validator("secrets")
    @classmethod
    def _secret_refs_only(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        for name, ref in value.items():
            if not isinstance(ref, str) or not re.match(SECRET_REF_PATTERN, ref):
                raise ValueError(
                    f"secret '{name}' must be a reference (env:NAME, ssm:/path or "
                    f"secretsmanager:ARN), not a literal value"
                )
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
        default=5.0, ge=0, description="Score moves smaller than this, inside a tier, are not synced."
    )


class LoopRule(BaseModel):
    """One closed-loop rule: whether it runs, and how often it may act for one person."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    cooldown_days: float | None = Field(
        default=None,
        ge=0,
        description="At most one action per person per this many days (default: the loop's).",
    )


class LoopSettings(BaseModel):
    """Closed loop: moments that become CRM actions (see pipeline/loop.py)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    detractor_max_nps: int = Field(
        default=6, ge=0, le=10, description="An NPS answer at or below this opens a follow-up task."
    )
    angry_max_sentiment: float = Field(
        default=-0.5,
        ge=-1,
        le=1,
        description="A public post at or below this sentiment opens a follow-up task.",
    )
    promoter_min_nps: int = Field(
        default=9,
        ge=0,
        le=10,
        description="A promoter who also posted publicly (positively, naming the "
        "brand) becomes an advocate candidate.",
    )
    cooldown_days: float = Field(
        default=30.0, ge=0, description="Per person and rule: at most one action in this many days."
    )
    do_not_contact_properties: list[str] = Field(
        default_factory=lambda: [
            "hs_email_optout",
            "HasOptedOutOfEmail",
            "DoNotCall",
            "do_not_contact",
            "Email_Opt_Out",
            "donotemail",
            "donotbulkemail",
        ],
        description="CRM properties that, when a change notification sets them true, mark the person "
        "do-not-contact (and false clears it). The loop never creates actions for them.",
    )
    detractor_answer: LoopRule = Field(default_factory=LoopRule)
    angry_public_post: LoopRule = Field(default_factory=LoopRule)
    promoter_posted_publicly: LoopRule = Field(default_factory=LoopRule)


class EvidenceConfidence(BaseModel):
    """How sure each kind of evidence makes Chorus that an identity is the author's (0..1)."""

    model_config = ConfigDict(extra="forbid")
    provider_verified: float = Field(
        default=1.0, ge=0, le=1, description="User id/handle a provider reports."
    )
    crm_property: float = Field(default=1.0, ge=0, le=1, description="A CRM record id.")
    same_email: float = Field(default=0.95, ge=0, le=1)
    same_phone: float = Field(default=0.9, ge=0, le=1)
    hidden_field: float = Field(
        default=0.7, ge=0, le=1, description="A handle or id in a survey hidden field."
    )


class IdentitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    merge_threshold: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="Evidence tying two persons at or above this merges them; below, it is a suggestion.",
    )
    confidence: EvidenceConfidence = Field(default_factory=EvidenceConfidence)
    default_phone_region: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2}$",
        description="ISO country for phone numbers written without +country code; none: such numbers are ignored.",
    )


class Settings(BaseModel):
    """settings.yaml beside the connector files. Every field has a default."""

    model_config = ConfigDict(extra="forbid")
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)
    brand_terms: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(
        default=6 * 1024 * 1024, gt=0, description="Deliveries above this get 413 (Lambda's payload limit)."
    )
    dedup_ttl_days: int = Field(default=7, gt=0)
    delivery_log_days: int = Field(
        default=7, gt=0, description="How long the delivery log keeps each request (TTL)."
    )
