"""Interaction: one thing a person said or did, on any channel."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PrivateAttr

from .common import SCHEMA_VERSION, IdentityRef, Model, UtcDatetime

InteractionKind = Literal[
    "survey_response",
    "post",
    "comment",
    "mention",
    "repost",  # shares someone else's words: no sentiment or brand mention of its own
    "direct_message",
    "review",
    "crm_update",
]


class Author(Model):
    email: str | None = None
    handle: str | None = None
    phone: str | None = Field(default=None, description="As given; normalised to E.164 for matching.")
    provider_user_id: str | None = None
    display_name: str | None = None
    followers: int | None = Field(default=None, ge=0)


class Sentiment(Model):
    score: float = Field(ge=-1, le=1)
    label: Literal["positive", "neutral", "negative"]
    model: str = "vader"


class Rating(Model):
    value: float
    scale: float = Field(gt=0, description="The top of the question's own scale: 5 of 5 is the best.")
    label: str | None = Field(default=None, description="The question rated, when a response has several.")


CrmRecordEvent = Literal["change", "delete", "privacy_delete", "restore", "merge"]
NpsCategory = Literal["promoter", "passive", "detractor"]


class CrmChange(Model):
    """What a CRM change notification said, so the pipeline can spot its own echo and follow
    the record's life (deleted, restored, merged into another)."""

    object_id: str
    change_type: str
    property: str | None = None
    value: str | None = None
    source: str | None = None
    event: CrmRecordEvent = Field(
        default="change",
        description="change, delete, privacy_delete (a GDPR deletion: never written to again), "
        "restore, or merge (object_id was merged into merged_into).",
    )
    merged_into: str | None = Field(default=None, description="merge: the surviving record's id.")


class Interaction(Model):
    schema_version: int = SCHEMA_VERSION
    interaction_id: str = Field(description="Stable id: same provider object, same id.")
    connector_id: str
    provider: str
    kind: InteractionKind
    external_id: str = Field(description="The provider's id of the object (response, tweet...).")
    key: str | None = Field(
        default=None,
        max_length=4096,
        description="Cross-connector key: the platform's object id where known, else the canonical "
        "permalink. One interaction per key, however many connectors deliver it.",
    )
    also_keys: list[str] = Field(
        default_factory=list,
        max_length=32,
        description="Further keys of the same object (the ids of an edited post's other versions): "
        "an edit or a deletion naming any of them updates this interaction.",
    )
    seen_by: list[str] = Field(
        default_factory=list, description="Every connector that delivered this interaction."
    )
    event_id: str = Field(description="The provider's id of the delivery event, for de-duplication.")
    event_type: str | None = None
    occurred_at: UtcDatetime
    updated_at: UtcDatetime | None = Field(
        default=None, description="Provider's last-modified time; later versions win."
    )
    received_at: UtcDatetime | None = None
    text: str | None = None
    url: str | None = None
    author: Author = Field(default_factory=Author)
    links: list[IdentityRef] = Field(
        default_factory=list,
        max_length=64,  # claimed in one DynamoDB transaction (100 items at most)
        description="Further identities of the author the delivery vouches for (hidden fields...).",
    )
    nps: int | None = Field(default=None, ge=0, le=10)
    nps_category: NpsCategory | None = None
    rating: Rating | None = Field(default=None, description="The first rating answer (see ratings).")
    ratings: list[Rating] = Field(default_factory=list, description="Every rating answer, each on its scale.")
    sentiment: Sentiment | None = None
    language: str | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    public: bool = True
    brand_matches: list[str] = Field(default_factory=list)
    deleted: bool = False
    deletes_thread: bool = Field(
        default=False,
        description="A deletion of the whole thread (a deleted ticket): every stored item with this "
        "thread_id on the author's timeline, from this connector, loses its text.",
    )
    crm_change: CrmChange | None = None
    person_id: str | None = None
    delivery_ref: str | None = Field(
        default=None, description="Claim-check pointer to the raw delivery when it was too big for the queue."
    )
    # What the author wrote when `text` holds more (a survey's answers without their questions);
    # set at parse time, read by enrichment, never stored.
    _authored_text: str | None = PrivateAttr(default=None)

    @property
    def authored_text(self) -> str | None:
        """The author's own words: language, sentiment and brand mentions are about these."""
        return self.text if self._authored_text is None else self._authored_text

    def authored(self, words: str | None) -> Interaction:
        """Name the part of `text` the author wrote (see authored_text) and return self."""
        self._authored_text = words or ""
        return self

    @property
    def version_time(self):
        return self.updated_at or self.occurred_at
