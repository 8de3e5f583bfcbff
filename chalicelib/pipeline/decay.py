"""Score decay on a schedule: rescore the people whose recency has moved enough to matter.

Recency fades with time even when nobody says anything, so a person's tier can change on
its own. Each stored score carries `decay_due_at` (pipeline/scoring.py): the moment decay
next crosses a tier boundary, moves the score by `sync_score_delta`, or settles at zero.
Profiles with a due time sit in the sparse gsi1 entry DECAY / {due}; a run queries that
entry up to now (reading only the people due, never the whole table), rescores each from
its stored stats, and enqueues CRM sync jobs when the change is sync-worthy (a tier change
always is; a wobble inside a tier smaller than sync_score_delta is not).

Entry points: app.py `decay_scores` (@app.schedule), the local hub's DecayTimer and
`chorus people decay` all call `decay_due_people(hub)`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..hub import Hub
from ..schema import Person, SyncJob
from ..store.base import VersionConflict
from .advocate import sync_worthy
from .person_write import update_person
from .scoring import advocate_score

log = logging.getLogger("chorus_hub.decay")
DECAY_BATCH = 500


@dataclass
class DecayOutcome:
    rescored: list[str] = field(default_factory=list)
    tier_changes: int = 0
    sync_jobs: int = 0


def enqueue_sync(hub: Hub, person_id: str) -> int:
    """One sync job per sink connector for the person; returns how many were sent."""
    now = hub.clock()
    jobs = [
        SyncJob(person_id=person_id, connector_id=c.id, requested_at=now).model_dump(mode="json")
        for c in hub.connectors.sinks()
    ]
    if jobs:
        hub.sync_queue.send_many(jobs)
    return len(jobs)


def decay_due_people(hub: Hub, limit: int = DECAY_BATCH) -> DecayOutcome:
    """Rescore everyone whose decay is due (at most `limit` per run; the rest stay due)."""
    outcome = DecayOutcome()
    for person_id in hub.store.people_due_for_decay(hub.clock(), limit):
        rescore_person(hub, person_id, outcome)
    log.info(
        "decay run",
        extra={
            "rescored": len(outcome.rescored),
            "tier_changes": outcome.tier_changes,
            "sync_jobs": outcome.sync_jobs,
        },
    )
    return outcome


def rescore_person(hub: Hub, person_id: str, outcome: DecayOutcome | None = None) -> DecayOutcome:
    """Recompute one person's score at the hub's clock from their stored stats."""
    outcome = outcome or DecayOutcome()

    def rescored(person: Person | None) -> Person | None:
        if person is None or person.merged_into:
            return None
        person.advocate = advocate_score(person.stats, hub.settings.scoring, hub.clock())
        return person

    try:
        before, after = update_person(hub.store, person_id, rescored)
    except VersionConflict:
        log.warning("person kept changing during decay; next run retries", extra={"person_id": person_id})
        return outcome
    if before is None or after is None:
        return outcome
    outcome.rescored.append(person_id)
    if after.advocate.tier != before.advocate.tier:
        outcome.tier_changes += 1
    crm_namespaces = {c.provider for c in hub.connectors.sinks()}
    if sync_worthy(before, after, hub.settings.scoring, crm_namespaces):
        outcome.sync_jobs += enqueue_sync(hub, person_id)
    return outcome
