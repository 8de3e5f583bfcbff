"""The sync engine shared by every sink.

A batch of sync-queue messages is coalesced (many changes to one person become one
write), compared with what was last written (no-op writes skipped), chunked to the
sink's batch maximum and upserted. Per-record results decide each message's fate:
written, retried (retryable failure: the message is reported failed and SQS redelivers
it), or dead-lettered with the CRM's own error message (permanent failure).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from ..errors import UpstreamError
from ..hub import Hub
from ..pipeline import crm_records
from ..pipeline.advocate import advocate_record, record_hash
from ..pipeline.identity import link_identity
from ..providers import get_sink
from ..providers.base import SinkResult
from ..providers.crm_common import CreateClaims
from ..providers.http import MeteredSession
from ..schema import AdvocateRecord, IdentityRef, Person, SyncJob
from ..store.base import DeadLetter, SyncState
from .budget import account_budget

log = logging.getLogger("chorus_hub.sync")
# A job read before its person's write committed: retried this soon, for at most this long (a
# few receives, well inside the queue's maxReceiveCount of 5).
NOT_VISIBLE_RETRY_SECONDS = 2.0
NOT_VISIBLE_HORIZON = timedelta(seconds=6)


@dataclass
class SyncOutcome:
    written: int = 0
    unchanged: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    failed_messages: set[str] = field(default_factory=set)
    retry_after: dict[str, float] = field(default_factory=dict)  # message id -> seconds to wait
    rescheduled: int = 0  # failed deliveries queued again for their retry schedule's next step
    calls: int = 0  # HTTP calls the sinks sent (each one charged to its account's budget)

    def fail(self, message_ids, delay: float | None = None) -> None:
        self.failed_messages.update(message_ids)
        if delay:
            for message_id in message_ids:
                self.retry_after[message_id] = max(delay, self.retry_after.get(message_id, 0.0))


def run_sync(hub: Hub, messages: dict[str, dict]) -> SyncOutcome:
    """`messages`: queue message id -> SyncJob dict. Returns which message ids failed."""
    outcome = SyncOutcome()
    by_connector: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    jobs: dict[str, SyncJob] = {}
    now = hub.clock()
    for message_id, body in messages.items():
        job = SyncJob.model_validate(body)
        if job.not_before and job.not_before > now:  # a scheduled retry, received early
            outcome.fail([message_id], (job.not_before - now).total_seconds())
            continue
        jobs[message_id] = job
        by_connector[job.connector_id][job.person_id].append(message_id)
    for connector_id, people in by_connector.items():
        connector = hub.connectors.get(connector_id)
        if connector is None or not connector.config.is_sink:
            for ids in people.values():
                for message_id in ids:
                    _dead_letter(hub, connector_id, jobs[message_id], "sink connector is not configured")
                    outcome.dead_lettered += 1
            continue
        _sync_connector(hub, connector, people, jobs, outcome)
    return outcome


def _not_visible_yet(hub: Hub, person: Person | None, jobs: list[SyncJob]) -> bool:
    """A job queued inside the store transaction that wrote its person (a SQLite batch sends
    its sync jobs just before the commit, so a crash cannot lose them) can be received before
    that commit: the person read is missing or older than the job. It is retried shortly rather
    than skipped, which would leave the CRM without the change; after NOT_VISIBLE_HORIZON the
    write is taken as undone (its batch failed and will send its jobs again, or the person was
    erased) and the job goes on with what is stored."""
    expected = [j.person_updated_at for j in jobs if j.person_updated_at]
    if not expected or (person is not None and person.updated_at >= max(expected)):
        return False
    return hub.clock() - min(j.requested_at for j in jobs) < NOT_VISIBLE_HORIZON


def _sync_connector(
    hub, connector, people: dict[str, list[str]], jobs: dict[str, SyncJob], outcome: SyncOutcome
) -> None:
    provider = get_sink(connector.provider)
    store = hub.store
    states = store.get_sync_states([(p, connector.id) for p in people])
    pending: list[tuple[AdvocateRecord, str, SyncState]] = []
    for person_id in people:
        person = store.get_person(person_id)
        state = states.get((person_id, connector.id)) or SyncState(person_id, connector.id)
        if _not_visible_yet(hub, person, [jobs[m] for m in people[person_id]]):
            outcome.fail(people[person_id], NOT_VISIBLE_RETRY_SECONDS)
            continue
        if person is None:
            outcome.skipped += 1
            continue
        refused = crm_records.refusal(state, connector)
        if refused:  # the CRM deleted their record, and this connector keeps it deleted
            if state.skipped_reason != refused:
                state.skipped_reason = refused
                store.put_sync_state(state)
            outcome.skipped += 1
            continue
        crm_id = crm_records.live_crm_id(state)  # a known record is written by its id
        record = advocate_record(person, {connector.id: crm_id} if crm_id else {})
        if not record.email and not crm_id:
            state.skipped_reason = "no email or CRM id to match a contact on"
            store.put_sync_state(state)
            outcome.skipped += 1
            continue
        if state.changed_at and record.changed_at < state.changed_at:
            outcome.unchanged += 1  # an older state arriving late never overwrites newer data
            continue
        digest = record_hash(provider.properties_for(record, connector))
        if digest == state.record_hash:
            outcome.unchanged += 1
            continue
        pending.append((record, digest, state))

    # Every HTTP call of the sink goes through this session: one budget request per call, and a
    # throttle parks the account (the session then refuses further calls without sending them).
    session = MeteredSession(
        hub.http, account_budget(store, connector, provider), provider.throttle, connector, tokens=store
    )
    for start in range(0, len(pending), provider.batch_max):
        chunk = pending[start : start + provider.batch_max]
        if wait := session.parked_for():  # back to the queue for as long as the account needs
            for record, _, _ in chunk:
                outcome.fail(people[record.person_id], wait)
            continue
        try:
            claims = CreateClaims(store, hub.clock)
            results = provider.upsert([r for r, _, _ in chunk], connector, session, claims=claims)
        except UpstreamError as exc:
            log.warning(
                "sink call failed",
                extra={
                    "connector_id": connector.id,
                    "retryable": exc.retryable,
                    "status": exc.http_status,
                    "records": len(chunk),
                },
            )
            if exc.retryable and exc.retry_after:
                session.park(exc.retry_after)
            for record, _, _ in chunk:
                if exc.retryable:
                    outcome.fail(people[record.person_id], exc.retry_after)
                else:
                    for message_id in people[record.person_id]:
                        _dead_letter(hub, connector.id, jobs[message_id], str(exc))
                    outcome.dead_lettered += 1
            continue
        finally:
            outcome.calls += session.calls
            session.calls = 0
        by_person = {r.person_id: r for r in results}
        with store.atomic():  # the chunk's states in one commit (SQLite), after the CRM answered
            for record, digest, state in chunk:
                result = by_person.get(record.person_id) or SinkResult(
                    record.person_id, ok=False, error="no result returned for this record", retryable=True
                )
                _apply_result(hub, connector, record, digest, state, result, people, jobs, outcome)


def _apply_result(
    hub,
    connector,
    record: AdvocateRecord,
    digest: str,
    state: SyncState,
    result: SinkResult,
    people,
    jobs,
    outcome: SyncOutcome,
) -> None:
    if result.gone:  # the record its id named was deleted in the CRM meanwhile
        crm_records.forget_record(hub, connector, state, record.crm_ids[connector.id], privacy=False)
        hub.store.put_sync_state(state)
        if crm_records.refusal(state, connector):
            outcome.skipped += 1
        else:  # recreate: written again (matched by email, else created) on the retry
            outcome.fail(people[record.person_id])
        return
    if result.ok:
        state.record_hash, state.written = digest, result.written
        state.crm_id = result.crm_id or state.crm_id
        state.crm_deleted = None
        state.changed_at, state.synced_at, state.skipped_reason = record.changed_at, hub.clock(), None
        hub.store.put_sync_state(state)
        if state.crm_id:
            owner = link_identity(
                hub.store,
                record.person_id,
                IdentityRef(namespace=connector.provider, value=state.crm_id),
                source_connector=connector.id,
            )
            if owner != record.person_id:
                log.warning(
                    "CRM record already linked to another person",
                    extra={"connector_id": connector.id, "person_id": record.person_id, "owner": owner},
                )
        outcome.written += 1
    elif result.retryable and provider_schedule(connector) and not result.retry_after:
        _reschedule(hub, connector, record, result, people[record.person_id], jobs, outcome)
    elif result.retryable:
        outcome.fail(people[record.person_id], result.retry_after)
    else:
        for message_id in people[record.person_id]:
            _dead_letter(hub, connector.id, jobs[message_id], result.error or "rejected by the CRM")
        outcome.dead_lettered += 1


def provider_schedule(connector) -> tuple[float, ...]:
    return get_sink(connector.provider).retry_schedule


def _reschedule(hub, connector, record, result: SinkResult, message_ids, jobs, outcome: SyncOutcome) -> None:
    """A failed delivery of a sink with a retry schedule: a new job for the next step, due after
    that step's delay (the received message is done with). Past the last step: a dead letter.
    A throttle (retry_after set) is not a failed delivery: the queue holds it back instead."""
    attempt = max(jobs[m].attempt for m in message_ids) + 1
    schedule = provider_schedule(connector)
    if attempt > len(schedule):
        for message_id in message_ids:
            _dead_letter(hub, connector.id, jobs[message_id], f"retry schedule exhausted: {result.error}")
        outcome.dead_lettered += 1
        return
    now = hub.clock()
    job = SyncJob(
        person_id=record.person_id,
        connector_id=connector.id,
        requested_at=now,
        attempt=attempt,
        not_before=now + timedelta(seconds=schedule[attempt - 1]),
    )
    hub.sync_queue.send(job.model_dump(mode="json"))  # a failure here fails the batch: redelivered
    outcome.rescheduled += 1


def _dead_letter(hub: Hub, connector_id: str, job: SyncJob, reason: str) -> None:
    hub.store.put_dead_letter(
        DeadLetter(
            dead_letter_id=uuid.uuid4().hex,
            stage="sync",
            connector_id=connector_id,
            reason=reason,
            message=job.model_dump(mode="json"),
            created_at=hub.clock(),
            attempts=job.attempt,
        )
    )
