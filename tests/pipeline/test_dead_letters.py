"""Dead letters are visible and replay to the right final state."""

import json

import pytest

from chalicelib.deadletters import list_dead_letters, replay
from tests.support.senders import fixture_bytes, typeform_headers


def test_delivery_that_failed_for_good_replays_after_the_fix(client, workers, hub, monkeypatch):
    from chalicelib.errors import MalformedPayload
    from chalicelib.providers.typeform import TypeformProvider

    def broken(self, delivery, ctx):
        raise MalformedPayload("simulated parser bug")

    monkeypatch.setattr(TypeformProvider, "parse", broken)
    body = fixture_bytes("typeform/form_response.json")
    assert (
        client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body)).status_code
        == 200
    )
    workers.drain()
    [letter] = list_dead_letters(hub, "typeform-nps")
    assert (
        "simulated parser bug" in letter.reason and hub.store.connector_interactions("typeform-nps", 5) == []
    )

    monkeypatch.undo()  # the fix is deployed
    assert replay(hub).replayed == 1
    workers.drain()
    assert list_dead_letters(hub) == []
    [item] = hub.store.connector_interactions("typeform-nps", 5)
    assert item.nps == 9


def test_unreadable_letters_are_kept_on_replay(hub):
    from chalicelib.schema import utcnow
    from chalicelib.store.base import DeadLetter

    hub.store.put_dead_letter(DeadLetter("d1", "ingest", "unknown", "unreadable", {"raw": "x"}, utcnow()))
    result = replay(hub)
    assert (result.replayed, result.kept) == (0, 1)
    assert len(list_dead_letters(hub)) == 1


@pytest.mark.moto  # the CLI reaches the hub through AWS clients here
def test_cli_lists_and_replays(hub, capsys):
    from chalicelib.cli import main
    from chalicelib.schema import SyncJob, utcnow
    from chalicelib.store.base import DeadLetter

    job = SyncJob(person_id="p1", connector_id="crm-file", requested_at=utcnow()).model_dump(mode="json")
    hub.store.put_dead_letter(DeadLetter("d2", "sync", "crm-file", "HTTP 400 bad property", job, utcnow()))
    assert main(["dlq", "list"]) == 0
    out = capsys.readouterr().out
    assert "crm-file" in out and "HTTP 400 bad property" in out and "1 dead letter(s)" in out
    assert main(["dlq", "replay", "--connector", "crm-file"]) == 0
    assert "replayed 1" in capsys.readouterr().out
    import boto3

    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=hub.sync_queue.name)["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert json.loads(message["Body"])["attempt"] == 1


def test_a_parser_bug_dead_letters_the_delivery_instead_of_retrying(client, workers, hub, monkeypatch):
    from chalicelib.providers.typeform import TypeformProvider

    def buggy(self, delivery, ctx):
        return {}["missing"]

    monkeypatch.setattr(TypeformProvider, "parse", buggy)
    body = fixture_bytes("typeform/form_response.json")
    assert (
        client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body)).status_code
        == 200
    )
    workers.drain()
    [letter] = list_dead_letters(hub, "typeform-nps")
    assert letter.reason == "typeform parser failed: KeyError" and letter.message["body_b64"]
