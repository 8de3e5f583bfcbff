"""Action: what the closed loop asks the CRM to do about one person, and why."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import SCHEMA_VERSION, Model, UtcDatetime

ActionKind = Literal["follow_up_task", "advocate_candidate"]


class Action(Model):
    schema_version: int = SCHEMA_VERSION
    action_id: str = Field(description="Stable: one action per person, rule and interaction.")
    kind: ActionKind
    rule: str = Field(
        description="The loop rule that fired: detractor_answer, angry_public_post, promoter_posted_publicly."
    )
    person_id: str
    interaction_id: str = Field(description="The moment that triggered it.")
    connector_id: str
    reason: str = Field(description="Human-readable: what was seen, e.g. 'NPS 3 (detractor)'.")
    created_at: UtcDatetime
