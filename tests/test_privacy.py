"""Erase and export: everything about a person goes (or comes out), and stays erased."""

import base64
import json

import boto3
import pytest

from chalicelib.schema import Envelope, SyncJob, utcnow
from chalicelib.store.base import DeadLetter
from tests.support.admin import body_of, send_survey, send_tweet, survey, tweet

MAYA = "maya.chen@example.com"


def _maya(client, workers, hub, *, big: bool = False) -> str:
    send_survey(client, survey(padding=200_000 if big else 0))
    workers.drain()  # the survey first: its hidden field ties the X handle to the email
    send_tweet(client, tweet())
    workers.drain()
    person_id = _owner(hub, f"email#{MAYA}")
    assert person_id and _owner(hub, "x_handle#maya_builds") == person_id
    return person_id


def _owner(hub, key: str) -> str | None:
    from chalicelib.schema import IdentityRef

    namespace, _, value = key.partition("#")
    return hub.store.find_identities([IdentityRef(namespace=namespace, value=value)]).get(key)


def _letters(hub, person_id: str) -> None:
    """An ingest dead letter naming Maya's email, a sync job for her, and one about someone else."""
    now = utcnow()

    def envelope(text: str) -> dict:
        return Envelope(
            envelope_id="env-" + text[:5],
            connector_id="typeform-nps",
            provider="typeform",
            received_at=now,
            method="POST",
            url="http://localhost/webhooks/typeform-nps",
            content_type="application/json",
            body_b64=base64.b64encode(text.encode()).decode(),
        ).model_dump(mode="json")

    hub.store.put_dead_letter(
        DeadLetter(
            "dl-maya",
            "ingest",
            "typeform-nps",
            "cannot parse",
            envelope(json.dumps({"email": "Maya.Chen@example.com"})),
            now,
        )
    )
    hub.store.put_dead_letter(
        DeadLetter(
            "dl-other",
            "ingest",
            "typeform-nps",
            "cannot parse",
            envelope(json.dumps({"email": "notmaya.chen@example.com.au.x"})),
            now,
        )
    )
    job = SyncJob(person_id=person_id, connector_id="crm-file", requested_at=now).model_dump(mode="json")
    hub.store.put_dead_letter(DeadLetter("dl-sync", "sync", "crm-file", "HTTP 400", job, now))


def test_export_returns_everything_held(client, workers, hub, admin_headers):
    from chalicelib.store.base import SyncState

    person_id = _maya(client, workers, hub)
    _letters(hub, person_id)
    # what a CRM sink leaves behind: the record id it wrote to (the demo file sink has none)
    hub.store.put_sync_state(SyncState(person_id, "hubspot", record_hash="h", crm_id="98765432101"))
    export = body_of(client, f"/admin/people/{person_id}/export", admin_headers)
    assert export["profile"]["email"] == MAYA
    assert {"email#" + MAYA, "x_handle#maya_builds", "hubspot#98765432101"} <= {
        f"{r['namespace']}#{r['value']}" for r in export["identities"]
    }
    assert {i["provider"] for i in export["interactions"]} == {"typeform", "x"}
    assert export["crm_ids"] == {"hubspot": "98765432101"}
    assert sorted(s["connector_id"] for s in export["sync_states"]) == ["crm-file", "hubspot"]
    assert sorted(d["dead_letter_id"] for d in export["dead_letters"]) == ["dl-maya", "dl-sync"]
    assert [a["kind"] for a in export["actions"]] == ["advocate_candidate"]  # promoter who posted


def _blob_count(hub, ref: str) -> int:
    if ref.startswith("s3://"):
        bucket, _, key = ref.removeprefix("s3://").partition("/")
        return boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"]
    return int(hub.blobs._path_of(ref).exists())


def _stored_text(hub) -> str:
    """Everything the store and blob store hold, as text: the table's items, or the bytes of the
    SQLite files and blob files (what someone who copied the state directory would read)."""
    from pathlib import Path

    from chalicelib.store.sqlite import SqliteStore

    if not isinstance(hub.store, SqliteStore):
        return json.dumps(boto3.client("dynamodb").scan(TableName="chorus-table")["Items"])
    files = [p for p in Path(hub.store.path).parent.glob("store.sqlite3*")] + [
        p for p in hub.blobs.root.rglob("*") if p.is_file()
    ]
    return b"".join(p.read_bytes() for p in files).decode("latin-1")


def test_erase_removes_everything_and_a_late_delivery_is_skipped(client, workers, hub, admin_headers):
    _erase_everything(client, workers, hub, admin_headers)


@pytest.mark.moto
def test_erase_removes_everything_on_aws(client, workers, hub, admin_headers):
    _erase_everything(client, workers, hub, admin_headers)


def _erase_everything(client, workers, hub, admin_headers):
    person_id = _maya(client, workers, hub, big=True)
    _letters(hub, person_id)
    interactions = hub.store.person_interactions(person_id)
    markers = [(i.connector_id, i.event_id) for i in interactions]
    assert all(hub.store.is_processed(c, e) for c, e in markers)
    [blob_ref] = {i.delivery_ref for i in interactions if i.delivery_ref}
    assert _blob_count(hub, blob_ref) == 1
    assert MAYA in _stored_text(hub)

    report = body_of(client, f"/admin/people/{person_id}", admin_headers, method="DELETE")
    assert report["identities"] >= 4 and report["dead_letters"] == 2 and report["raw_deliveries"] == 1

    assert hub.store.get_person(person_id) is None
    assert hub.store.person_items(person_id).count == 0  # profile, interactions, sync states, actions, caps
    for key_ in (f"email#{MAYA}", "x_handle#maya_builds", "hubspot#98765432101", "x#1420873350012977153"):
        assert _owner(hub, key_) is None, key_
    assert hub.store.connector_interactions("typeform-nps", 10) == []
    assert [i.author.handle for i in hub.store.connector_interactions("x-brand", 10)] == ["devon_ops"]
    assert _blob_count(hub, blob_ref) == 0
    assert [d.dead_letter_id for d in hub.store.dead_letters("typeform-nps", 10)] == ["dl-other"]
    assert hub.store.dead_letters("crm-file", 10) == []
    assert not any(hub.store.is_processed(c, e) for c, e in markers)
    assert client.http.get(f"/admin/people/{person_id}", headers=admin_headers).status_code == 404
    assert body_of(client, f"/admin/people?email={MAYA}", admin_headers)["items"] == []
    # nothing readable is left behind: only salted hashes
    stored = _stored_text(hub)
    assert MAYA not in stored and "maya_builds" not in stored

    # late deliveries: the same response again, a new response from the same email, the tweet
    send_survey(client, survey())
    send_survey(client, survey(token="late-response-1"))
    send_tweet(client, tweet(tweet_id="2125244096205479999"))
    workers.drain()
    assert _owner(hub, f"email#{MAYA}") is None and _owner(hub, "x_handle#maya_builds") is None
    assert hub.store.connector_interactions("typeform-nps", 10) == []
    counts = hub.store.event_counts("typeform-nps")
    assert counts["skipped_erased"] == 2 and hub.store.event_counts("x-brand")["skipped_erased"] == 1
    assert client.http.delete(f"/admin/people/{person_id}", headers=admin_headers).status_code == 404


def test_erasing_one_person_leaves_the_others(client, workers, hub, admin_headers):
    maya = _maya(client, workers, hub)
    send_survey(client, survey("typeform/form_response_detractor.json"))
    workers.drain()
    devon = _owner(hub, "email#devon.park@example.com")
    body_of(client, f"/admin/people/{maya}", admin_headers, method="DELETE")
    assert hub.store.get_person(devon) is not None
    assert [i.person_id for i in hub.store.connector_interactions("typeform-nps", 10)] == [devon]
    send_survey(client, survey("typeform/form_response_detractor.json", token="devon-again"))
    workers.drain()
    assert [i.provider for i in hub.store.person_interactions(devon)].count("typeform") == 2  # not erased


def test_cli_exports_and_erases(hub, client, workers, capsys):
    from chalicelib.cli import main

    person_id = _maya(client, workers, hub)
    assert main(["people", "export", person_id]) == 0
    assert json.loads(capsys.readouterr().out)["profile"]["email"] == MAYA
    assert main(["people", "erase", person_id]) == 0
    assert "erased" in capsys.readouterr().out
    assert hub.store.get_person(person_id) is None
    assert main(["people", "erase", person_id]) == 1
