"""A queue batch on the SQLite store: parsed outside the transaction, stored in one, each record
in a savepoint of its own (runtime/batch.py)."""

from __future__ import annotations

import json

from chalicelib.runtime.batch import handle_ingest_batch
from tests.support.admin import survey
from tests.support.senders import typeform_headers

URL = "/webhooks/typeform-nps"


def _new_person(n: int) -> bytes:
    """A survey from someone new: its own email, none of the fixture's hidden ids."""
    doc = json.loads(survey(token=f"tok-batch-{n}", email=f"batch{n}@example.com"))
    doc["form_response"]["hidden"] = {}
    return json.dumps(doc).encode()


def _records(client, hub, count: int) -> list[dict]:
    for n in range(count):
        body = _new_person(n)
        assert client.http.post(URL, body=body, headers=typeform_headers(body)).status_code == 200
    return hub.test_consumers[hub.ingest_queue.name].receive(count)


def _statements(hub) -> list[str]:
    seen: list[str] = []
    hub.store._db.set_trace_callback(seen.append)
    return seen


def test_a_batch_commits_once_and_sends_its_sync_jobs_in_one_write(client, hub, monkeypatch):
    records = _records(client, hub, 5)
    sends = []
    real = hub.sync_queue.send_many
    monkeypatch.setattr(hub.sync_queue, "send_many", lambda jobs: (sends.append(len(jobs)), real(jobs)))
    seen = _statements(hub)
    assert handle_ingest_batch(hub, records) == {"batchItemFailures": []}
    assert [s for s in seen if s.startswith(("BEGIN", "COMMIT"))] == ["BEGIN IMMEDIATE", "COMMIT"]
    assert sends == [5]  # one job per new person for the file sink, in one queue write
    assert len(hub.store.connector_interactions("typeform-nps", 10)) == 5


def test_a_record_failing_in_its_store_work_rolls_back_alone(client, hub, monkeypatch):
    from chalicelib.pipeline import process

    records = _records(client, hub, 3)
    real = process.refresh_person

    def refresh(hub_, person_id, refs, interaction, outcome):
        real(hub_, person_id, refs, interaction, outcome)
        if interaction.author.email == "batch1@example.com":
            raise ConnectionError("after its writes")  # a retryable failure, late in the work

    monkeypatch.setattr(process, "refresh_person", refresh)
    result = handle_ingest_batch(hub, records)
    assert result == {"batchItemFailures": [{"itemIdentifier": records[1]["messageId"]}]}
    stored = hub.store.connector_interactions("typeform-nps", 10)
    assert sorted(i.author.email for i in stored) == ["batch0@example.com", "batch2@example.com"]
    # nothing of the failed one stayed: its redelivery is not taken for a duplicate
    monkeypatch.setattr(process, "refresh_person", real)
    assert handle_ingest_batch(hub, [records[1]]) == {"batchItemFailures": []}
    assert len(hub.store.connector_interactions("typeform-nps", 10)) == 3
