"""Small builders of the models the store holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.schema import Action, IdentityLink, IdentityRef, Interaction, MergeRecord, Person

T0 = datetime(2027, 1, 15, 12, 0, tzinfo=UTC)


def person(person_id: str, score: float = 0.0, email: str | None = None, **extra) -> Person:
    found = Person(person_id=person_id, created_at=T0, updated_at=T0, email=email, **extra)
    found.advocate.score = score
    return found


def interaction(
    ix_id: str, person_id: str, minutes: int = 0, connector: str = "typeform-nps", **extra
) -> Interaction:
    return Interaction(
        interaction_id=ix_id,
        connector_id=connector,
        provider="typeform",
        kind="survey_response",
        external_id=f"r-{ix_id}",
        event_id=f"e-{ix_id}",
        occurred_at=T0 + timedelta(minutes=minutes),
        person_id=person_id,
        **extra,
    )


def ref(value: str, namespace: str = "email") -> IdentityRef:
    return IdentityRef(namespace=namespace, value=value)


def link(value: str, namespace: str = "email", confidence: float = 0.9) -> IdentityLink:
    return IdentityLink(
        namespace=namespace, value=value, evidence="same_email", confidence=confidence, first_seen=T0
    )


def action(action_id: str, person_id: str, minutes: int = 0) -> Action:
    return Action(
        action_id=action_id,
        kind="follow_up_task",
        rule="detractor",
        person_id=person_id,
        interaction_id=f"ix-{action_id}",
        connector_id="typeform-nps",
        reason="NPS 3 (detractor)",
        created_at=T0 + timedelta(minutes=minutes),
    )


def merge(merge_id: str) -> MergeRecord:
    return MergeRecord(
        merge_id=merge_id, survivor_id="p1", merged_id="p2", confidence=0.9, reason="same email", merged_at=T0
    )
