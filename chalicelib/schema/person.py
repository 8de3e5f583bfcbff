"""Person: everyone Chorus heard from, with their identities and advocate score."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .action import Action
from .common import SCHEMA_VERSION, IdentityRef, Model, UtcDatetime
from .identity import IdentityLink, MergeSuggestion

Tier = Literal["advocate", "promoter", "neutral", "detractor", "at_risk"]


class ScoreComponent(Model):
    name: str
    points: float = Field(description="What this component adds to the score.")
    weight: float
    inputs: dict[str, Any] = Field(default_factory=dict)


class AdvocateScore(Model):
    score: float = 0.0
    tier: Tier = "neutral"
    components: list[ScoreComponent] = Field(default_factory=list)
    computed_at: UtcDatetime | None = None
    decay_due_at: UtcDatetime | None = Field(
        default=None,
        description="When recency decay next moves the score across a tier or by the sync delta.",
    )


class PersonStats(Model):
    interaction_count: int = 0
    public_positive_mentions: int = 0
    sentiment_avg: float | None = None
    latest_nps: int | None = None
    latest_nps_at: UtcDatetime | None = None
    latest_rating: float | None = Field(
        default=None,
        description="The latest star or scale rating as a fraction of its scale (5 of 5 is 1.0).",
    )
    latest_rating_at: UtcDatetime | None = None
    max_followers: int | None = None
    first_interaction_at: UtcDatetime | None = None
    last_interaction_at: UtcDatetime | None = None
    last_mention_url: str | None = None
    evidence: dict[str, list[str]] = Field(
        default_factory=dict, description="Score component -> ids of the latest interactions behind it."
    )


class Person(Model):
    schema_version: int = SCHEMA_VERSION
    person_id: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
    identities: list[IdentityRef] = Field(default_factory=list)
    email: str | None = Field(
        default=None, description="As the person typed it (domain lower-cased); CRMs receive this."
    )
    email_changed_at: UtcDatetime | None = Field(
        default=None, description="When a CRM last changed the email (newer CRM changes win)."
    )
    display_name: str | None = None
    handles: dict[str, str] = Field(default_factory=dict, description="provider -> handle")
    stats: PersonStats = Field(default_factory=PersonStats)
    advocate: AdvocateScore = Field(default_factory=AdvocateScore)
    links: list[IdentityLink] = Field(
        default_factory=list, description="Each identity with its evidence and confidence."
    )
    suggestions: list[MergeSuggestion] = Field(
        default_factory=list, description="Persons tied to this one below the merge threshold."
    )
    merged_into: str | None = Field(default=None, description="Set when this person was merged away.")
    merges: list[str] = Field(default_factory=list, description="Ids of the merges this person took part in.")
    kept_apart: list[str] = Field(
        default_factory=list, description="Persons an unmerge separated from this one: never merged again."
    )
    do_not_contact: bool = Field(
        default=False, description="A CRM said not to contact them (opt-out); the loop never asks."
    )
    latest_action: Action | None = Field(default=None, description="The closed loop's latest action.")


class AdvocateRecord(Model):
    """What Chorus writes into a CRM for one person. Sinks map these fields to CRM properties."""

    person_id: str
    email: str | None = None
    display_name: str | None = None
    advocate_score: int
    advocate_tier: Tier
    latest_nps: int | None = None
    sentiment: float | None = None
    x_handle: str | None = None
    last_mention_url: str | None = None
    last_interaction_at: UtcDatetime | None = None
    latest_action: str | None = Field(
        default=None, description="Closed loop: follow_up_task or advocate_candidate."
    )
    latest_action_reason: str | None = None
    latest_action_at: UtcDatetime | None = None
    crm_ids: dict[str, str] = Field(default_factory=dict, description="connector id -> CRM record id")
    changed_at: UtcDatetime = Field(description="Event time of the newest input, for last-write-wins.")
