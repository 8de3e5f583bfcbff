"""Faults: DynamoDB throttling and errors on the Nth call, SQS redelivery, a crash between
storing and acknowledging, CRM 429/5xx/timeouts. Every case must end with exactly one
stored interaction and the right CRM state (HubSpot sink, answered by `responses`).

Small by default; FAULTS_EXHAUSTIVE=1 injects a fault at every call position instead.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import requests
import responses

from tests.support.senders import fixture_bytes, typeform_headers

# faults are injected into the boto3 DynamoDB and SQS clients
pytestmark = pytest.mark.moto

UPSERT = "https://api.hubapi.com/crm/v3/objects/contacts/batch/upsert"
EMAIL = "maya.chen@example.com"
CODES = ["ProvisionedThroughputExceededException", "InternalServerError", "ThrottlingException"]
# A clean run of the survey makes 21 DynamoDB calls; the 7th is the transaction that claims
# the new person's identities.
if os.environ.get("FAULTS_EXHAUSTIVE"):
    POSITIONS = [(n, CODES[n % len(CODES)]) for n in range(1, 22)]
else:
    POSITIONS = [
        (1, CODES[0]),
        (3, CODES[1]),
        (6, CODES[2]),
        (7, CODES[1]),
        (10, CODES[0]),
        (15, CODES[1]),
        (21, CODES[2]),
    ]


class Status:
    def __init__(self, code: int):
        self.status_code = code
        self.headers: dict = {}


class DynamoFaults:
    """Answers chosen DynamoDB calls (by position, counted from arming) with an AWS error,
    as if the SDK's own retries had run out. Registered on the store's client."""

    def __init__(self, client, fail_at: set[int], code: str, only: frozenset[str] = frozenset()):
        self.fail_at, self.code, self.calls, self.failed, self.only = fail_at, code, 0, [], only
        self.armed = False
        client.meta.events.register("before-call.dynamodb", self)

    def __call__(self, model, **kwargs):
        if not self.armed or (self.only and model.name not in self.only):
            return None
        self.calls += 1
        if self.calls in self.fail_at:
            self.failed.append(model.name)
            status = 500 if self.code == "InternalServerError" else 400
            return Status(status), {
                "Error": {"Code": self.code, "Message": "injected by test_faults"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }
        return None


def upsert_ok(request):
    inputs = json.loads(request.body)["inputs"]
    results = [
        {
            "id": str(90000000000 + sum(map(ord, i["id"]))),
            "new": True,
            "archived": False,
            "properties": {**i["properties"], "email": i["id"]},
            "createdAt": "2026-11-24T15:20:05.112Z",
            "updatedAt": "2026-11-24T15:31:48.904Z",
        }
        for i in inputs
    ]
    return 200, {}, json.dumps({"status": "COMPLETE", "results": results})


@pytest.fixture
def crm():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def send_survey(client, name="typeform/form_response.json"):
    body = fixture_bytes(name)
    assert (
        client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body)).status_code
        == 200
    )


def settle(workers, done, seconds=25.0):
    """Drain, waiting out the 1 s visibility timeout of failed messages, until done() holds
    and a last drain finds nothing (so a late redelivery cannot slip past the assertions)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            workers.drain()
        except Exception:  # an injected fault surfacing in a poller: the message stays queued
            pass
        if done():
            time.sleep(1.2)
            workers.drain()
            return
        time.sleep(1.1)
    raise AssertionError("the pipeline did not settle")


def reader():
    """A store on a client of its own: the test's reads are never the ones faults hit."""
    import boto3

    from chalicelib.runtime.resources import ResourceNames
    from chalicelib.store.dynamodb import DynamoStore

    return DynamoStore(boto3.client("dynamodb"), ResourceNames.from_env().table)


def maya(hub):
    from chalicelib.schema import IdentityRef

    store = reader()
    found = store.find_identities([IdentityRef(namespace="email", value=EMAIL)])
    person_id = found.get(f"email#{EMAIL}")
    return store.get_person(person_id) if person_id else None


def crm_writes_for(crm_mock, email=EMAIL):
    return [
        i
        for c in crm_mock.calls
        if c.request.url == UPSERT and c.response is not None and getattr(c.response, "status_code", 0) == 200
        for i in json.loads(c.request.body)["inputs"]
        if i["id"] == email
    ]


def assert_one_interaction_and_right_crm_state(hub, crm_mock):
    person = maya(hub)
    assert person is not None
    store = reader()
    timeline = store.person_interactions(person.person_id)
    assert len(timeline) == 1, [i.interaction_id for i in timeline]
    assert len({i.interaction_id for i in timeline}) == 1
    assert person.stats.interaction_count == 1
    writes = crm_writes_for(crm_mock)
    assert writes, "the advocate record never reached the CRM"
    last = writes[-1]["properties"]
    assert last["chorus_latest_nps"] == "9"
    # the CRM gets the score rounded for display, computed at sync time (recency decays)
    assert float(last["chorus_advocate_score"]) == pytest.approx(person.advocate.score, abs=1.0)
    states = store.get_sync_states([(person.person_id, "hubspot")])
    assert [s.crm_id for s in states.values()] == [str(90000000000 + sum(map(ord, EMAIL)))]
    assert all(json.loads(json.dumps(w["properties"])) == last for w in writes), (
        "a redelivery wrote different values to the CRM"
    )


def synced(hub):
    person = maya(hub)
    if person is None:
        return False
    return bool(reader().get_sync_states([(person.person_id, "hubspot")]))


@pytest.mark.parametrize("position,code", POSITIONS)
def test_dynamodb_error_on_the_nth_call_ends_in_one_interaction(
    position, code, sink_client, sink_hub, workers, crm
):
    crm.add_callback(responses.POST, UPSERT, callback=upsert_ok, content_type="application/json")
    faults = DynamoFaults(sink_hub.store._db, {position}, code)
    send_survey(sink_client)
    faults.armed = True
    settle(workers, lambda: synced(sink_hub))
    assert faults.calls >= position, "the fault was never injected: the run made fewer calls"
    assert faults.failed
    assert_one_interaction_and_right_crm_state(sink_hub, crm)


def test_a_throttling_burst_then_recovery(sink_client, sink_hub, workers, crm):
    """Four calls in a row refused (a throttled table, SDK retries spent), then it recovers."""
    crm.add_callback(responses.POST, UPSERT, callback=upsert_ok, content_type="application/json")
    faults = DynamoFaults(sink_hub.store._db, set(range(2, 6)), CODES[0])
    send_survey(sink_client)
    faults.armed = True
    settle(workers, lambda: synced(sink_hub))
    assert len(faults.failed) == 4
    assert_one_interaction_and_right_crm_state(sink_hub, crm)


def test_a_fault_that_outlasts_the_redrive_policy_becomes_a_replayable_dead_letter(
    sink_client, sink_hub, workers, crm
):
    """Every processing attempt fails: after maxReceiveCount receives SQS moves the message to the
    dead-letter queue, and Chorus keeps it (with the raw delivery) as a dead letter to replay."""
    from chalicelib.runtime.resources import MAX_RECEIVE_COUNT

    crm.add_callback(responses.POST, UPSERT, callback=upsert_ok, content_type="application/json")
    # the table refuses every identity lookup (the first call of each attempt); the rest works,
    # so the dead-letter store can keep the message
    faults = DynamoFaults(sink_hub.store._db, set(range(1, 400)), CODES[1], only=frozenset({"BatchGetItem"}))
    send_survey(sink_client)
    faults.armed = True

    def dead_lettered():
        faults.armed = False
        try:
            return bool(sink_hub.store.dead_letters("typeform-nps", 10))
        finally:
            faults.armed = True

    settle(workers, dead_lettered, seconds=20 + 2 * MAX_RECEIVE_COUNT)
    faults.armed = False
    [letter] = sink_hub.store.dead_letters("typeform-nps", 10)
    assert letter.stage == "ingest" and letter.attempts >= MAX_RECEIVE_COUNT
    assert letter.message.get("body_b64") or letter.message.get("body_ref"), "the raw delivery was not kept"
    assert maya(sink_hub) is None or not reader().person_interactions(maya(sink_hub).person_id)

    from chalicelib.deadletters import replay

    replay(sink_hub, "typeform-nps")  # after the fix: replay puts it back on the ingest queue
    settle(workers, lambda: synced(sink_hub))
    assert_one_interaction_and_right_crm_state(sink_hub, crm)
    assert sink_hub.store.dead_letters("typeform-nps", 10) == []


def test_sqs_delivering_one_message_twice_stores_it_once(sink_client, sink_hub, workers, crm):
    import boto3

    from chalicelib.runtime.batch import handle_ingest_batch
    from chalicelib.runtime.resources import ResourceNames

    crm.add_callback(responses.POST, UPSERT, callback=upsert_ok, content_type="application/json")
    send_survey(sink_client)
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=ResourceNames.from_env().ingest_queue)["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {},
        "eventSource": "aws:sqs",
    }
    # the same message twice in one batch, then again in a later batch with a new message id
    assert handle_ingest_batch(sink_hub, [record, record]) == {"batchItemFailures": []}
    assert handle_ingest_batch(sink_hub, [{**record, "messageId": "again"}]) == {"batchItemFailures": []}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    settle(workers, lambda: synced(sink_hub))
    assert_one_interaction_and_right_crm_state(sink_hub, crm)
    assert len(crm_writes_for(crm)) == 1


def test_the_provider_retrying_the_same_delivery_stores_it_once(sink_client, sink_hub, workers, crm):
    crm.add_callback(responses.POST, UPSERT, callback=upsert_ok, content_type="application/json")
    for _ in range(3):
        send_survey(sink_client)
    settle(workers, lambda: synced(sink_hub))
    assert_one_interaction_and_right_crm_state(sink_hub, crm)
    assert len(crm_writes_for(crm)) == 1


class DeleteFails:
    """An SQS client whose first delete_message_batch is lost (the worker crashed after storing)."""

    def __init__(self, real, failures: int = 1):
        self.real, self.failures = real, failures

    def delete_message_batch(self, **kwargs):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("worker crashed before acknowledging")
        return self.real.delete_message_batch(**kwargs)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.mark.parametrize("poller", [0, 1], ids=["ingest worker", "sync worker"])
def test_crash_between_storing_and_acknowledging(poller, sink_client, sink_hub, workers, crm):
    crm.add_callback(responses.POST, UPSERT, callback=upsert_ok, content_type="application/json")
    crashing = workers.pollers[poller]
    crashing.consumer._sqs = DeleteFails(crashing.consumer._sqs)
    send_survey(sink_client)
    settle(workers, lambda: synced(sink_hub) and crashing.consumer._sqs.failures == 0)
    state_before = crm_writes_for(crm)
    time.sleep(1.2)  # the unacknowledged message comes back and is processed again
    workers.drain()
    assert crashing.consumer._sqs.failures == 0
    assert_one_interaction_and_right_crm_state(sink_hub, crm)
    assert crm_writes_for(crm) == state_before, "processing the redelivered message wrote to the CRM again"


@pytest.mark.parametrize("failure", ["429", "500", "503", "timeout", "connection"])
def test_crm_refusals_are_retried_to_the_same_state(failure, sink_client, sink_hub, workers, crm):
    if failure == "429":
        crm.add(
            responses.POST,
            UPSERT,
            status=429,
            headers={"Retry-After": "3"},
            body=fixture_bytes("hubspot/rate_limit_429.json"),
            content_type="application/json",
        )
    elif failure in ("500", "503"):
        crm.add(responses.POST, UPSERT, status=int(failure), json={"status": "error", "message": "internal"})
    elif failure == "timeout":
        crm.add(responses.POST, UPSERT, body=requests.ReadTimeout("read timed out"))
    else:
        crm.add(responses.POST, UPSERT, body=requests.ConnectionError("connection reset"))
    crm.add_callback(responses.POST, UPSERT, callback=upsert_ok, content_type="application/json")
    send_survey(sink_client)
    settle(workers, lambda: synced(sink_hub))
    assert len(crm.calls) == 2
    if failure == "429":  # Retry-After honoured by parking the account, not by sleeping in a worker
        assert sink_hub.waits == []
    assert_one_interaction_and_right_crm_state(sink_hub, crm)


def test_crm_asking_to_wait_longer_than_a_worker_may_is_held_back_not_lost(
    sink_client, sink_hub, workers, crm
):
    """Retry-After beyond the in-process budget: no hour-long sleep in a worker, no hammering of
    the CRM, no dead letter: the sync job waits on its queue (the account is blocked until then)."""
    import boto3

    from chalicelib.runtime.resources import ResourceNames

    crm.add(responses.POST, UPSERT, status=429, headers={"Retry-After": "3600"}, json={"status": "error"})
    crm.add_callback(responses.POST, UPSERT, callback=upsert_ok, content_type="application/json")
    send_survey(sink_client)
    for _ in range(3):
        workers.drain()
        time.sleep(1.1)
    assert 3600.0 not in sink_hub.waits
    assert len(crm.calls) == 1 and not crm_writes_for(crm)
    assert sink_hub.store.dead_letters("hubspot", 10) == []
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=ResourceNames.from_env().sync_queue)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        int(attributes["ApproximateNumberOfMessages"])
        + int(attributes["ApproximateNumberOfMessagesNotVisible"])
        + int(attributes.get("ApproximateNumberOfMessagesDelayed", 0))
        >= 1
    ), "the sync job was lost"
    person = maya(sink_hub)
    assert len(reader().person_interactions(person.person_id)) == 1
