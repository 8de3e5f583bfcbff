"""Salesforce: Outbound Messages through the real route and workers; Collections upsert against
HTTP fakes shaped like Salesforce's documented requests and responses."""

import json

import pytest
import requests
import responses
from responses import matchers

from chalicelib.errors import UpstreamError
from chalicelib.schema import IdentityRef
from tests.support.crm import CRM_CONNECTORS, crm, drain, fresh_tokens, record, seed_written, sleeps  # noqa: F401
from tests.support.paths import CONNECTORS
from tests.support.senders import SECRETS, fixture_bytes, fixture_json

TOKEN = SECRETS["TEST_SALESFORCE_URL_TOKEN"]
XML = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}  # no Accept: the Ack must not need one
BASE = "https://acme.my.salesforce.com"
TOKEN_URL = f"{BASE}/services/oauth2/token"
UPSERT_URL = f"{BASE}/services/data/v62.0/composite/sobjects/Contact/Chorus_Email__c"
QUERY_URL = f"{BASE}/services/data/v62.0/query"
NO_MATCH = {"totalSize": 0, "done": True, "records": []}


def no_match(rsps) -> None:
    """The SOQL lookup by Email that precedes every create finds no existing Contact."""
    rsps.get(QUERY_URL, json=NO_MATCH)


def post(client, body: bytes, token: str | None = TOKEN, connector: str = "salesforce"):
    url = f"/webhooks/{connector}" + (f"?token={token}" if token is not None else "")
    return client.http.post(url, body=body, headers=XML)


# ---- source ---------------------------------------------------------------------------------
def test_outbound_message_is_acked_with_the_soap_envelope_and_parsed(client, workers, hub):
    response = post(client, fixture_bytes("salesforce/outbound_message.xml"))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    ack = response.body.decode()
    assert '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>' in ack
    assert "http://schemas.xmlsoap.org/soap/envelope/" in ack
    workers.drain()
    items = {i.author.email: i for i in hub.store.connector_interactions("salesforce", 10)}
    assert set(items) == {"maya.chen@example.com", "devon.park@example.com"}
    maya = items["maya.chen@example.com"]
    assert maya.kind == "crm_update" and maya.event_id == "04l5e00000AbCdEAAV"
    assert maya.crm_change.object_id == "0035e00000XyZ12AAB"
    assert (maya.crm_change.property, maya.crm_change.value) == ("Chorus_Advocate_Score__c", "72")
    assert maya.occurred_at.isoformat() == "2024-05-01T10:00:00+00:00"
    person = hub.store.get_person(maya.person_id)
    assert {"salesforce#0035e00000XyZ12AAB", "email#maya.chen@example.com"} <= {
        r.key for r in person.identities
    }


def test_resent_notifications_are_stored_once(client, workers, hub):
    for _ in range(3):
        assert post(client, fixture_bytes("salesforce/outbound_message.xml")).status_code == 200
    workers.drain()
    assert len(hub.store.connector_interactions("salesforce", 10)) == 2


def test_url_token_and_organization_checks(client):
    body = fixture_bytes("salesforce/outbound_message.xml")
    assert json.loads(post(client, body, token=None).body)["error"] == "missing_signature"
    assert post(client, body, token="guess").status_code == 401
    other_org = body.replace(b"00D5e000000AbCdEAK", b"00D5e000000ZzZzEAK")
    response = post(client, other_org)
    assert response.status_code == 403 and json.loads(response.body)["error"] == "wrong_organization"
    assert post(client, b"<not-xml", token=TOKEN).status_code == 400
    assert (
        client.http.post(
            f"/webhooks/salesforce?token={TOKEN}", body=body, headers={"Content-Type": "application/json"}
        ).status_code
        == 415
    )


@pytest.mark.parametrize(
    "name, change",
    [
        (
            "entity expansion",
            lambda b: b.replace(
                b"<soapenv:Envelope",
                b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><soapenv:Envelope',
                1,
            ).replace(b"<ActionId>", b"<ActionId>&b;", 1),
        ),
        (
            "external DTD",
            lambda b: b.replace(
                b"<soapenv:Envelope",
                b'<!DOCTYPE x SYSTEM "http://attacker.example/x.dtd"><soapenv:Envelope',
                1,
            ),
        ),
        (
            "external entity",
            lambda b: b.replace(
                b"<soapenv:Envelope",
                b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><soapenv:Envelope',
                1,
            ).replace(b"<ActionId>", b"<ActionId>&e;", 1),
        ),
        ("truncated after OrganizationId", lambda b: b[: b.index(b"<Notification>") + 30]),
        ("mismatched tag after OrganizationId", lambda b: b.replace(b"</sObject>", b"</sobject>", 1)),
        (
            "unbound prefix after OrganizationId",
            lambda b: b.replace(b"<sf:Email>", b"<zz:Email>", 1).replace(b"</sf:Email>", b"</zz:Email>", 1),
        ),
        ("no notifications element", lambda b: b.replace(b"notifications", b"notes")),
        (
            "notifications in another namespace",
            lambda b: b.replace(b"http://soap.sforce.com/2005/09/outbound", b"urn:other"),
        ),
    ],
)
def test_unsafe_or_malformed_soap_is_400_however_late_the_fault(name, change, client):
    """The org check reads OrganizationId early, but the whole body is still checked at ingest."""
    response = post(client, change(fixture_bytes("salesforce/outbound_message.xml")))
    assert response.status_code == 400, name
    assert json.loads(response.body)["error"] == "parse_error"


def test_organization_id_is_read_as_the_worker_reads_it():
    from chalicelib.providers.salesforce import OUTBOUND_NS, _notifications, _organization_id, _text

    ns = 'xmlns="http://soap.sforce.com/2005/09/outbound"'
    for body in [
        fixture_bytes("salesforce/outbound_message.xml"),
        f"<notifications {ns}><OrganizationId> 00D <b>y</b> tail</OrganizationId></notifications>".encode(),
        f"<a><notifications {ns}><x><OrganizationId>deep</OrganizationId></x>"
        f"<OrganizationId>direct</OrganizationId></notifications></a>".encode(),
        f"<a><notifications {ns}/><notifications {ns}><OrganizationId>2nd</OrganizationId>"
        f"</notifications></a>".encode(),
        f"<notifications {ns}><OrganizationId>a&amp;b&#65;</OrganizationId></notifications>".encode(),
    ]:
        assert _organization_id(body) == _text(_notifications(body).find(f"{OUTBOUND_NS}OrganizationId"))


@pytest.mark.moto  # reads the SQS message itself
def test_url_token_never_reaches_the_queue(client, hub):
    import boto3

    from chalicelib.runtime.resources import ResourceNames

    assert post(client, fixture_bytes("salesforce/outbound_message.xml")).status_code == 200
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=ResourceNames.from_env().ingest_queue)["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    assert TOKEN not in message["Body"]


def test_chorus_own_write_echo_is_skipped(crm, client):
    seed_written(
        crm.hub,
        "person-maya",
        "salesforce",
        "0035e00000XyZ12AAB",
        "salesforce",
        {"Chorus_Advocate_Score__c": "72"},
    )
    assert post(client, fixture_bytes("salesforce/outbound_message.xml")).status_code == 200
    drain(crm.hub)
    stored = crm.hub.store.connector_interactions("salesforce", 10)
    assert [i.author.email for i in stored] == ["devon.park@example.com"]  # Maya's was the echo
    assert crm.hub.store.event_counts("salesforce").get("skipped_echo") == 1


def test_changes_by_the_integration_user_are_echo(tmp_path, use_connectors, client, hub):
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "sf.yaml").write_text(
        "id: salesforce\nprovider: salesforce\nsecrets:\n  signing: env:TEST_SALESFORCE_URL_TOKEN\n"
        "options:\n  base_url: https://acme.my.salesforce.com\n  organization_id: 00D5e000000AbCdEAK\n"
        "  integration_user_id: 0055e000001UsRa\n"
    )
    use_connectors(folder)
    from chalicelib.runtime.aws import get_hub

    assert post(client, fixture_bytes("salesforce/outbound_message.xml")).status_code == 200
    drain(get_hub())
    assert get_hub().store.connector_interactions("salesforce", 10) == []
    assert get_hub().store.event_counts("salesforce").get("skipped_echo") == 2


# ---- sink -----------------------------------------------------------------------------------
def token_ok(rsps, times: int = 1):
    for _ in range(times):
        rsps.post(
            TOKEN_URL,
            json=fixture_json("salesforce/token_response.json"),
            match=[
                matchers.urlencoded_params_matcher(
                    {
                        "grant_type": "client_credentials",
                        "client_id": SECRETS["TEST_SALESFORCE_CLIENT_ID"],
                        "client_secret": SECRETS["TEST_SALESFORCE_CLIENT_SECRET"],
                    }
                )
            ],
        )


def test_upsert_sends_a_collection_by_external_id_and_reads_per_record_results(crm, caplog):
    sf = crm.connector("salesforce")
    records = [record(1), record(2, advocate_score=500), record(3)]
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        no_match(rsps)
        rsps.patch(
            UPSERT_URL,
            json=fixture_json("salesforce/upsert_results.json"),
            headers={"Sforce-Limit-Info": "api-usage=95018/100000"},
        )
        results = _provider().upsert(records, sf, crm.http)
        sent = json.loads(rsps.calls[2].request.body)
        assert (
            rsps.calls[2].request.headers["Authorization"]
            == "Bearer " + fixture_json("salesforce/token_response.json")["access_token"]
        )
    assert sent["allOrNone"] is False
    first = sent["records"][0]
    assert first["attributes"] == {"type": "Contact"}
    assert first["Chorus_Email__c"] == "fan1@example.com" and first["Email"] == "fan1@example.com"
    assert first["Chorus_Advocate_Score__c"] == 71 and first["Chorus_Advocate_Tier__c"] == "advocate"
    assert "LastName" not in first  # never overwrite a contact's name on update
    ok, invalid, locked = results
    assert ok.ok and ok.crm_id == "0035e00000XyZ12AAB" and not ok.created
    assert ok.written["Chorus_Advocate_Score__c"] == "71"
    assert not invalid.ok and not invalid.retryable and "FIELD_CUSTOM_VALIDATION_EXCEPTION" in invalid.error
    assert not locked.ok and locked.retryable
    (warning,) = [r for r in caplog.records if "API allocation" in r.getMessage()]
    assert (warning.used, warning.limit, warning.connector_id) == (95018, 100000, "salesforce")


def test_a_new_contact_gets_a_last_name_only_when_salesforce_asks(crm):
    missing = [
        {
            "success": False,
            "created": False,
            "errors": [
                {
                    "statusCode": "REQUIRED_FIELD_MISSING",
                    "message": "Required fields are missing: [LastName]",
                    "fields": ["LastName"],
                }
            ],
        }
    ]
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        no_match(rsps)
        rsps.patch(UPSERT_URL, json=missing)
        rsps.patch(
            UPSERT_URL, json=[{"id": "0035e00000NeW01AAB", "success": True, "errors": [], "created": True}]
        )
        [result] = _provider().upsert([record(1)], crm.connector("salesforce"), crm.http)
        retry = json.loads(rsps.calls[3].request.body)["records"][0]
    assert retry["LastName"] == "Fan Number1"
    assert result.ok and result.created and result.crm_id == "0035e00000NeW01AAB"


def test_expired_session_refreshes_the_token_once(crm):
    with responses.RequestsMock() as rsps:
        token_ok(rsps, times=2)
        rsps.get(QUERY_URL, status=401, json=fixture_json("salesforce/invalid_session.json"))
        no_match(rsps)
        rsps.patch(
            UPSERT_URL, json=[{"id": "0035e00000XyZ12AAB", "success": True, "errors": [], "created": False}]
        )
        [result] = _provider().upsert([record(1)], crm.connector("salesforce"), crm.http)
        assert [c.request.method for c in rsps.calls] == ["POST", "GET", "POST", "GET", "PATCH"]
    assert result.ok


def test_request_limit_exceeded_parks_the_batch(crm):
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        rsps.get(QUERY_URL, status=403, json=fixture_json("salesforce/request_limit_exceeded.json"))
        with pytest.raises(UpstreamError) as caught:
            _provider().upsert([record(1)], crm.connector("salesforce"), crm.http)
    assert caught.value.retryable and caught.value.retry_after == 3600


def test_bad_credentials_are_permanent(crm):
    with responses.RequestsMock() as rsps:
        rsps.post(
            TOKEN_URL,
            status=400,
            json={"error": "invalid_client", "error_description": "invalid client credentials"},
        )
        with pytest.raises(UpstreamError) as caught:
            _provider().upsert([record(1)], crm.connector("salesforce"), crm.http)
    assert not caught.value.retryable and "invalid client credentials" in str(caught.value)
    assert SECRETS["TEST_SALESFORCE_CLIENT_SECRET"] not in str(caught.value)


@pytest.mark.parametrize("retry_after", ["2", None])
def test_429_is_retried_honouring_retry_after(crm, sleeps, retry_after):
    headers = {"Retry-After": retry_after} if retry_after else {}
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        no_match(rsps)
        rsps.patch(UPSERT_URL, status=429, headers=headers, json=[])
        rsps.patch(
            UPSERT_URL, json=[{"id": "0035e00000XyZ12AAB", "success": True, "errors": [], "created": False}]
        )
        [result] = _provider().upsert([record(1)], crm.connector("salesforce"), crm.http)
    assert result.ok and len(sleeps) == 1
    assert sleeps[0] == 2.0 if retry_after else 0 <= sleeps[0] <= 0.5


def test_5xx_and_timeouts_end_retryable(crm, sleeps):
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        no_match(rsps)
        rsps.patch(UPSERT_URL, status=503, json=[{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}])
        rsps.patch(UPSERT_URL, body=requests.exceptions.Timeout())
        rsps.patch(UPSERT_URL, status=503, json=[])
        rsps.patch(UPSERT_URL, body=requests.exceptions.Timeout())
        with pytest.raises(UpstreamError) as caught:
            _provider().upsert([record(1)], crm.connector("salesforce"), crm.http)
    assert caught.value.retryable and len(sleeps) == 3


def _provider():
    from chalicelib.providers import get_provider

    return get_provider("salesforce")


def test_round_trip_sync_then_its_echo_is_skipped(tmp_path, use_connectors, client):
    """Typeform response -> person -> sync job -> Collections upsert -> the Outbound Message that
    Salesforce sends for that very write is recognised as Chorus's own echo."""
    import shutil

    from chalicelib.runtime.aws import get_hub
    from tests.support.senders import typeform_headers

    folder = tmp_path / "conf"
    folder.mkdir()
    shutil.copy(CONNECTORS / "typeform-nps.yaml", folder)
    shutil.copy(CRM_CONNECTORS / "salesforce.yaml", folder)
    use_connectors(folder)
    hub = get_hub()
    body = fixture_bytes("typeform/form_response.json")
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        no_match(rsps)
        rsps.patch(
            UPSERT_URL, json=[{"id": "0035e00000XyZ12AAB", "success": True, "errors": [], "created": True}]
        )
        assert (
            client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body)).status_code
            == 200
        )
        drain(hub)
        [sent] = json.loads(rsps.calls[2].request.body)["records"]
    assert sent["Chorus_Email__c"] == "maya.chen@example.com"
    person_id = hub.store.find_identities([IdentityRef(namespace="email", value="maya.chen@example.com")])[
        "email#maya.chen@example.com"
    ]
    state = hub.store.get_sync_states([(person_id, "salesforce")])[(person_id, "salesforce")]
    assert state.crm_id == "0035e00000XyZ12AAB"
    import re

    only_maya = re.sub(
        rb"<Notification>\s*<Id>04l5e00000AbCdFAAV.*?</Notification>",
        b"",
        fixture_bytes("salesforce/outbound_message.xml"),
        flags=re.S,
    )
    echo = only_maya.replace(
        b"<sf:Chorus_Advocate_Score__c>72.0<",
        f"<sf:Chorus_Advocate_Score__c>{sent['Chorus_Advocate_Score__c']}.0<".encode(),
    )
    with responses.RequestsMock():  # nothing may be written back: the echo must not sync again
        assert post(client, echo).status_code == 200
        drain(hub)
    assert hub.store.event_counts("salesforce").get("skipped_echo") == 1
    assert hub.store.connector_interactions("salesforce", 10) == []
