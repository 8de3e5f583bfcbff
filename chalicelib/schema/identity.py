"""The identity graph: how sure Chorus is that an identity is a person's, and merges."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import SCHEMA_VERSION, IdentityRef, Model, UtcDatetime

Evidence = Literal["provider_verified", "crm_property", "same_email", "same_phone", "hidden_field", "admin"]


class IdentityLink(IdentityRef):
    """An identity with the evidence that it is this person's and how sure that is (0..1).

    provider_verified: the provider reports the author's user id or handle for an event it signed;
    crm_property: a CRM record id (a CRM's own link, or the record a sink matched);
    same_email / same_phone: an address the author gave; hidden_field: a handle or id passed in a
    survey's hidden field. `via` names the identity this one was tied to the person through.
    """

    evidence: Evidence
    confidence: float = Field(ge=0, le=1)
    source_connector: str | None = None
    first_seen: UtcDatetime
    via: str | None = None

    def ref(self) -> IdentityRef:
        return IdentityRef(namespace=self.namespace, value=self.value)


class MergeSuggestion(Model):
    """Two persons something ties together, too weakly (or kept apart by an unmerge) to merge."""

    person_id: str = Field(description="The other person.")
    confidence: float = Field(ge=0, le=1)
    reason: str
    evidence: list[IdentityLink] = Field(default_factory=list)
    interaction_id: str | None = None
    first_seen: UtcDatetime
    last_seen: UtcDatetime


class MergeRecord(Model):
    """One merge: what moved from `merged_id` to `survivor_id`, so it can be undone."""

    schema_version: int = SCHEMA_VERSION
    merge_id: str
    survivor_id: str
    merged_id: str
    status: Literal["in_progress", "done", "undone"] = "in_progress"
    confidence: float = Field(ge=0, le=1)
    reason: str
    evidence: list[IdentityLink] = Field(default_factory=list)
    interaction_id: str | None = None
    merged_at: UtcDatetime
    moved_identities: list[IdentityLink] = Field(default_factory=list)
    moved_interactions: list[str] = Field(default_factory=list)
    copied_sync_states: list[str] = Field(
        default_factory=list, description="Sink connectors whose record the survivor adopted."
    )
    crm_ids_not_kept: dict[str, str] = Field(
        default_factory=dict, description="connector id -> the merged person's CRM record, left as it was."
    )
    undone_at: UtcDatetime | None = None
