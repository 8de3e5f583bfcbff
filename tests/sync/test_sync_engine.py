"""The sync engine: shared budgets, throttling isolation, coalescing under load, ordering."""

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
import responses

from chalicelib.runtime.batch import handle_ingest_batch, handle_sync_batch
from chalicelib.sync.budget import ApiBudget
from tests.support.backends import consumers
from tests.support.senders import fixture_json, typeform_headers
from tests.sync.test_sync_hubspot import UPSERT


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_budget_is_shared_by_workers_and_refills_per_window(hub):
    clock = Clock()
    worker_a, worker_b = ApiBudget(hub.store, clock), ApiBudget(hub.store, clock)
    granted = [w.acquire("hubspot:acct", 3, 10.0) for w in (worker_a, worker_b, worker_a, worker_b)]
    assert granted[:3] == [0.0, 0.0, 0.0] and granted[3] == pytest.approx(10.0)
    clock.now += 10
    assert worker_b.acquire("hubspot:acct", 3, 10.0) == 0.0
    assert worker_a.acquire("other:acct", 3, 10.0) == 0.0  # accounts are independent


def test_429_blocks_the_account_for_every_worker(hub):
    clock = Clock()
    ApiBudget(hub.store, clock).block("hubspot:acct", 120)
    assert ApiBudget(hub.store, clock).acquire("hubspot:acct", 100, 10.0) == pytest.approx(120)
    ApiBudget(hub.store, clock).block("hubspot:acct", 5)  # a shorter wait never unblocks early
    assert ApiBudget(hub.store, clock).acquire("hubspot:acct", 100, 10.0) == pytest.approx(120)


def receive(hub, name, up_to):
    """Up to `up_to` messages as Lambda records; a receive hands out at most 10, as SQS's does."""
    queue = consumers(hub)[name]
    records: list[dict] = []
    while len(records) < up_to and (got := queue.receive(min(10, up_to - len(records)))):
        records += got
    return records


def run_lambda(name, handler, hub, batch_size):
    """Drain a queue the way the Lambda event source would: batches, partial failure, deletes."""
    queue = consumers(hub)[name]
    batches = 0
    while records := receive(hub, name, batch_size):
        batches += 1
        failed = {f["itemIdentifier"] for f in handler(hub, records)["batchItemFailures"]}
        queue.delete([r["receiptHandle"] for r in records if r["messageId"] not in failed])
    return batches


class FakeHubSpot:
    """Keeps contacts by email like HubSpot's upsert does (and updates them by object id);
    counts calls and creations."""

    def __init__(self):
        self.contacts, self.calls, self.created, self.throttle = {}, 0, 0, 0

    def __call__(self, request):
        self.calls += 1
        if self.throttle:
            self.throttle -= 1
            return (
                429,
                {"Retry-After": "120"},
                json.dumps(
                    {
                        "status": "error",
                        "errorType": "RATE_LIMIT",
                        "message": "You have reached your ten_secondly_rolling limit.",
                    }
                ),
            )
        inputs = json.loads(request.body)["inputs"]
        assert len(inputs) <= 100
        results = []
        for entry in inputs:
            if "idProperty" not in entry:  # batch/update of a contact known by its object id
                email = next(e for e, c in self.contacts.items() if c["id"] == entry["id"])
                entry = {**entry, "id": email}
            new = entry["id"] not in self.contacts
            self.created += new
            contact = self.contacts.setdefault(entry["id"], {"id": str(500 + len(self.contacts))})
            contact.update(entry["properties"])
            results.append(
                {
                    "id": contact["id"],
                    "new": new,
                    "properties": {**entry["properties"], "email": entry["id"]},
                    "createdAt": "2026-11-24T15:20:05.112Z",
                    "updatedAt": "2026-11-24T15:20:05.112Z",
                    "archived": False,
                }
            )
        return 200, {}, json.dumps({"status": "COMPLETE", "results": results})


def survey(email: str, nps: int, token: str, when: datetime) -> bytes:
    data = fixture_json("typeform/form_response.json")
    response = data["form_response"]
    data["event_id"], response["token"] = f"ev-{token}", token
    response["submitted_at"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    response["hidden"] = {}
    for answer in response["answers"]:
        if answer["type"] == "email":
            answer["email"] = email
        if answer["field"]["type"] == "nps":
            answer["number"] = nps
    return json.dumps(data).encode()


@pytest.mark.slow
@responses.activate
def test_1000_changes_coalesce_into_few_calls_without_duplicates_even_shuffled(sink_client, sink_hub):
    crm = FakeHubSpot()
    for url in (UPSERT, UPSERT.replace("upsert", "update")):
        responses.add_callback(responses.POST, url, callback=crm, content_type="application/json")
    rng = random.Random(7)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    people = [f"person{i}@example.com" for i in range(150)]
    changes = [
        (rng.choice(people), rng.randint(0, 10), f"t{n}", start + timedelta(minutes=n)) for n in range(1000)
    ]
    latest = {}
    for email, nps, _, _when in changes:  # the truth: each person's NPS of their latest response
        latest[email] = nps
    deliveries = changes + rng.sample(changes, 300)  # 30% delivered twice
    rng.shuffle(deliveries)  # and out of order

    sync_batches = 0
    for index, (email, nps, token, when) in enumerate(deliveries, 1):
        body = survey(email, nps, token, when)
        assert (
            sink_client.http.post(
                "/webhooks/typeform-nps", body=body, headers=typeform_headers(body)
            ).status_code
            == 200
        )
        if index % 100 == 0:  # workers run while deliveries still arrive
            run_lambda(sink_hub.ingest_queue.name, handle_ingest_batch, sink_hub, 10)
            sync_batches += run_lambda(sink_hub.sync_queue.name, handle_sync_batch, sink_hub, 100)
    run_lambda(sink_hub.ingest_queue.name, handle_ingest_batch, sink_hub, 10)
    sync_batches += run_lambda(sink_hub.sync_queue.name, handle_sync_batch, sink_hub, 100)

    assert crm.created == len(set(latest)) == len(crm.contacts)  # one contact per person, never two
    for email, nps in latest.items():
        assert crm.contacts[email]["chorus_latest_nps"] == str(nps), email
    # each Lambda batch of up to 100 sync jobs costs at most ceil(changed people / 100) calls of
    # each kind: one batch/update for the contacts known by id, one batch/upsert for the others
    assert crm.calls <= sync_batches * math.ceil(100 / 100) * 2
    assert crm.calls < 1300 / 10  # far fewer calls than changes
    assert (
        len(sink_hub.store.connector_interactions("typeform-nps", 500)) == 500
    )  # the newest page, all distinct


@responses.activate
@pytest.mark.moto  # drains SQS as Lambda's event source does
def test_throttled_crm_holds_its_messages_back_but_not_other_crms(sink_client, sink_hub, tmp_path):
    crm = FakeHubSpot()
    crm.throttle = 1
    for url in (UPSERT, UPSERT.replace("upsert", "update")):
        responses.add_callback(responses.POST, url, callback=crm, content_type="application/json")
    body = survey("ada@example.com", 10, "tok-1", datetime(2026, 11, 2, tzinfo=UTC))
    sink_client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body))
    run_lambda(sink_hub.ingest_queue.name, handle_ingest_batch, sink_hub, 10)
    run_lambda(sink_hub.sync_queue.name, handle_sync_batch, sink_hub, 100)
    assert crm.calls == 1 and crm.contacts == {}  # throttled, and the message is held back ~120 s
    assert receive(sink_hub, sink_hub.sync_queue.name, 10) == []
    # a second person's change meanwhile: the account is blocked, so no call is spent on it
    body = survey("bob@example.com", 9, "tok-2", datetime(2026, 11, 3, tzinfo=UTC))
    sink_client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body))
    run_lambda(sink_hub.ingest_queue.name, handle_ingest_batch, sink_hub, 10)
    run_lambda(sink_hub.sync_queue.name, handle_sync_batch, sink_hub, 100)
    assert crm.calls == 1
    assert sink_hub.store.dead_letters("hubspot", 10) == []  # held, not lost


@responses.activate
def test_a_job_read_before_its_person_committed_is_retried_not_skipped(sink_client, sink_hub):
    """A SQLite batch sends its sync jobs just before its commit: a sync worker can read the job
    first. It must wait for the write, not skip the person (the CRM would never hear of it)."""
    from chalicelib.sync.engine import NOT_VISIBLE_HORIZON, NOT_VISIBLE_RETRY_SECONDS, run_sync

    crm = FakeHubSpot()
    for url in (UPSERT, UPSERT.replace("upsert", "update")):
        responses.add_callback(responses.POST, url, callback=crm, content_type="application/json")
    body = survey("ada@example.com", 10, "tok-1", datetime(2026, 11, 2, tzinfo=UTC))
    sink_client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body))
    run_lambda(sink_hub.ingest_queue.name, handle_ingest_batch, sink_hub, 10)
    [record] = receive(sink_hub, sink_hub.sync_queue.name, 10)
    job = json.loads(record["body"])
    person = sink_hub.store.get_person(job["person_id"])
    assert job["person_updated_at"] == person.model_dump(mode="json")["updated_at"]

    now = sink_hub.clock()
    later = (person.updated_at + timedelta(seconds=1)).isoformat()  # a write not committed yet
    unseen = {**job, "person_id": "not-written-yet", "requested_at": now.isoformat()}
    jobs = {"ahead": {**job, "person_updated_at": later, "requested_at": now.isoformat()}, "new": unseen}
    held = run_sync(sink_hub, jobs)
    assert held.failed_messages == {"ahead", "new"} and crm.calls == 0
    assert held.retry_after == {"ahead": NOT_VISIBLE_RETRY_SECONDS, "new": NOT_VISIBLE_RETRY_SECONDS}

    # past the horizon the write is taken as undone: the job goes on with what is stored
    sink_hub.clock = lambda: now + NOT_VISIBLE_HORIZON
    done = run_sync(sink_hub, jobs)
    assert done.failed_messages == set() and done.skipped == 1  # the person that never was
    assert crm.contacts["ada@example.com"]["chorus_latest_nps"] == "10"
