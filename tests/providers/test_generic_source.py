"""The generic mapped source: a connector file for a made-up tool ("Acme Forms"), its
deliveries through the real pipeline, and `chorus validate` naming each bad setting."""

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.support.paths import CONNECTORS
from tests.support.senders import SECRETS, fixture_bytes, standard_webhooks_headers

URL = "/webhooks/generic-acme"
CONNECTOR = CONNECTORS / "generic-acme.yaml"
SECRET = SECRETS["TEST_ACME_SIGNING_SECRET"]


def acme_headers(body: bytes, *, at: int | None = None, secret: str = SECRET) -> dict[str, str]:
    """What the connector file declares: sha256= + hex(HMAC-SHA256(secret, "{timestamp}.{body}"))."""
    stamp = str(at if at is not None else int(time.time()))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Acme-Signature": "sha256=" + digest,
        "X-Acme-Timestamp": stamp,
    }


def post(client, body=None, headers=None):
    body = body if body is not None else fixture_bytes("generic/acme_forms_batch.json")
    return client.http.post(URL, body=body, headers=headers if headers is not None else acme_headers(body))


def test_entries_are_mapped_by_the_connector_file(client, workers, hub):
    assert post(client).status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("generic-acme", 10)  # ent_002 is malformed: skipped
    assert item.provider == "generic" and item.kind == "survey_response"
    assert item.external_id == item.event_id == "ent_001" and item.thread_id == "nps-q4"
    assert item.occurred_at.timestamp() == 1795000000
    assert item.text == "Why: Setup took five minutes." and item.nps == 9
    assert (item.rating.value, item.rating.scale) == (4.0, 5.0)
    assert item.author.email == "lea.martin@example.com" and item.author.display_name == "Léa Martin"
    person = hub.store.get_person(item.person_id)
    assert {"email#lea.martin@example.com", "hubspot#44005566", "x_handle#lea_ships"} <= {
        r.key for r in person.identities
    }


def test_duplicates_are_stored_once(client, workers, hub):
    for _ in range(3):
        assert post(client).status_code == 200
    workers.drain()
    assert len(hub.store.connector_interactions("generic-acme", 10)) == 1


def test_signature_cases(client):
    body = fixture_bytes("generic/acme_forms_batch.json")
    assert post(client, headers={"Content-Type": "application/json"}).status_code == 401
    assert post(client, body.replace(b"lea.martin", b"eve"), acme_headers(body)).status_code == 401
    assert post(client, headers=acme_headers(body, secret="wrong")).status_code == 401
    stale = post(client, headers=acme_headers(body, at=int(time.time()) - 600))
    assert json.loads(stale.body)["error"] == "stale_timestamp"
    headers = acme_headers(body)
    headers["X-Acme-Signature"] = headers["X-Acme-Signature"].removeprefix("sha256=")
    assert post(client, headers=headers).status_code == 401


def test_standard_webhooks_scheme(client, workers, hub, tmp_path, use_connectors):
    secret = "whsec_" + base64.b64encode(b"acme-standard-webhooks-key").decode()
    document = yaml.safe_load(CONNECTOR.read_text())
    document["options"]["signature"] = {"scheme": "standard-webhooks"}
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "generic-acme.yaml").write_text(yaml.safe_dump(document))
    use_connectors(tmp_path / "conf")
    import os

    os.environ["TEST_ACME_SIGNING_SECRET"] = secret
    try:
        body = fixture_bytes("generic/acme_forms_batch.json")
        headers = standard_webhooks_headers(body, secret, "msg_1")
        assert client.http.post(URL, body=body, headers=headers).status_code == 200
        assert client.http.post(URL, body=body, headers={**headers, "webhook-id": "msg_2"}).status_code == 401
        workers.drain()
        assert len(hub.store.connector_interactions("generic-acme", 10)) == 1
    finally:
        os.environ["TEST_ACME_SIGNING_SECRET"] = SECRET


def validate(folder: Path) -> subprocess.CompletedProcess:
    chorus = Path(sys.executable).parent / "chorus"
    return subprocess.run([str(chorus), "validate", str(folder)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "change, field, message",
    [
        (lambda o: o["fields"].update(text="answers.[why"), "options.fields.text", "invalid JMESPath"),
        (lambda o: o.update(items="entries[?"), "options.items", "invalid JMESPath"),
        (
            lambda o: o["links"].update(hubspot="hidden..contact_id"),
            "options.links.hubspot",
            "invalid JMESPath",
        ),
        (
            lambda o: o["links"].update({"Bad Namespace": "hidden.x"}),
            "options.links.Bad Namespace",
            "namespace",
        ),
        (lambda o: o["fields"].pop("event_id"), "options.fields.event_id", "required"),
        (lambda o: o["fields"].update(mood="answers.mood"), "options.fields.mood", "unknown field"),
        (
            lambda o: o["signature"].update(signed_payload="{ts}.{body}"),
            "options.signature.signed_payload",
            "only {timestamp}",
        ),
        (lambda o: o["signature"].pop("timestamp_header"), "options.signature.timestamp_header", "required"),
        (lambda o: o["signature"].update(encoding="base32"), "options.signature.encoding", "hex"),
        (lambda o: o["signature"].update(scheme="rsa"), "options.signature.scheme", "standard-webhooks"),
    ],
)
def test_validate_names_the_file_and_field(tmp_path, change, field, message):
    document = yaml.safe_load(CONNECTOR.read_text())
    change(document["options"])
    (tmp_path / "acme.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))
    result = validate(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    line = next(l for l in output.splitlines() if field in l)
    assert line.startswith("acme.yaml") and message in line


def test_validate_accepts_the_test_connector(tmp_path):
    shutil.copy(CONNECTOR, tmp_path / "acme.yaml")
    result = validate(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def sw_post(client, name: str, msg_id: str, *, timestamp: int | None = None):
    body = fixture_bytes(f"generic/{name}.json")
    headers = standard_webhooks_headers(body, SECRETS["TEST_SW_SOURCE_SECRET"], msg_id, timestamp=timestamp)
    return client.http.post("/webhooks/generic-sw", body=body, headers=headers)


def test_standard_webhooks_id_is_the_idempotency_key(client, workers, hub):
    """Spec: webhook-id "remains the same no matter how many times a webhook that has failed is
    retried"; the recommended body {type, timestamp, data} has no event id of its own."""
    for _ in range(3):  # a delivery and two retries
        assert sw_post(client, "standard_webhooks_feedback_created", "msg_2Kcreated").status_code == 200
    workers.drain()
    [first] = hub.store.connector_interactions("generic-sw", 10)
    assert first.event_id == "msg_2Kcreated" and first.nps == 6
    assert hub.store.get_person(first.person_id).stats.interaction_count == 1
    # a distinct update of the same object is its own event: not lost
    assert sw_post(client, "standard_webhooks_feedback_updated", "msg_2Kupdated").status_code == 200
    workers.drain()
    [latest] = hub.store.connector_interactions("generic-sw", 10)
    assert latest.event_id == "msg_2Kupdated" and latest.nps == 9 and "quick" in latest.text


def test_header_fields_are_limited_to_the_kept_headers():
    from chalicelib.providers.generic_source import GenericOptions, GenericSourceProvider

    options = GenericOptions.model_validate({"fields": {"event_id": "header:authorization"}})
    problems = GenericSourceProvider().validate_config(None, options)
    assert [where for where, _ in problems] == ["options.fields.event_id"]
