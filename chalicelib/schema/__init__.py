"""The conversation schema: pydantic v2 models, the single source of truth.

This package imports nothing else of Chorus.
"""

from .action import Action, ActionKind
from .common import SCHEMA_VERSION, IdentityRef, utcnow
from .envelope import Envelope, SyncJob
from .identity import Evidence, IdentityLink, MergeRecord, MergeSuggestion
from .interaction import Author, CrmChange, Interaction, InteractionKind, Rating, Sentiment
from .person import AdvocateRecord, AdvocateScore, Person, PersonStats, ScoreComponent

__all__ = [
    "SCHEMA_VERSION",
    "IdentityRef",
    "utcnow",
    "Author",
    "CrmChange",
    "Interaction",
    "InteractionKind",
    "Rating",
    "Sentiment",
    "AdvocateRecord",
    "AdvocateScore",
    "Person",
    "PersonStats",
    "ScoreComponent",
    "Envelope",
    "SyncJob",
    "Action",
    "ActionKind",
    "Evidence",
    "IdentityLink",
    "MergeRecord",
    "MergeSuggestion",
]
