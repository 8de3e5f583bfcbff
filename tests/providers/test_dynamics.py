"""Dynamics 365 / Dataverse: webhook registrations (HttpHeader or WebhookKey auth) and the
Web API upsert by alternate key, against fakes shaped like the documented exchanges."""

import json

import pytest
import requests
import responses
from responses import matchers

from tests.support.crm import crm, drain, fresh_tokens, record, seed_written, sleeps  # noqa: F401
from tests.support.senders import SECRETS, fixture_bytes, fixture_json

KEY = SECRETS["TEST_DYNAMICS_WEBHOOK_KEY"]
BASE = "https://acme.crm.dynamics.com"
TOKEN_URL = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token"
UPSERT = f"{BASE}/api/data/v9.2/contacts(emailaddress1='fan1@example.com')"
HEADERS = {
    "Content-Type": "application/json",
    "x-request-id": "9e2b3c4d-1111-4222-8333-944455556666",
    "x-ms-dynamics-organization": "acme.crm.dynamics.com",
    "x-ms-dynamics-entity-name": "contact",
    "x-ms-dynamics-request-name": "Update",
}


def post(client, body: bytes, key: str | None = KEY, path: str = "/webhooks/dynamics"):
    headers = dict(HEADERS, **({"x-chorus-key": key} if key is not None else {}))
    return client.http.post(path, body=body, headers=headers)


# ---- source ---------------------------------------------------------------------------------
def test_update_context_becomes_one_change_per_target_attribute(client, workers, hub):
    assert post(client, fixture_bytes("dynamics/contact_update.json")).status_code == 200
    workers.drain()
    [item] = hub.store.connector_interactions("dynamics", 10)  # contactid/modifiedon/... are bookkeeping
    assert item.event_id == "4af10637-4ea2-e711-8122-000d3aa2331c:chorus_advocatescore"  # RequestId is null
    assert (item.crm_change.property, item.crm_change.value) == ("chorus_advocatescore", "72")
    assert item.author.email == "maya.chen@example.com"  # from the post image
    assert item.occurred_at.isoformat() == "2024-05-01T10:00:00+00:00"
    person = hub.store.get_person(item.person_id)
    assert "dynamics#6d81597f-0f9f-e711-8122-000d3aa2331c" in {r.key for r in person.identities}


def test_async_retry_is_stored_once(client, workers, hub):
    for _ in range(2):
        assert post(client, fixture_bytes("dynamics/contact_update.json")).status_code == 200
    workers.drain()
    assert len(hub.store.connector_interactions("dynamics", 10)) == 1


def test_header_key_cases(client):
    body = fixture_bytes("dynamics/contact_update.json")
    assert json.loads(post(client, body, key=None).body)["error"] == "missing_signature"
    assert post(client, body, key="guess").status_code == 401
    assert post(client, b"[1, 2]").status_code == 200  # well-formed JSON, judged at parse time


def test_webhook_key_query_mode(tmp_path, use_connectors, client):
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "dyn.yaml").write_text(
        "id: dyn-code\nprovider: dynamics\nsecrets:\n  signing: env:TEST_DYNAMICS_WEBHOOK_KEY\n"
        "options:\n  base_url: https://acme.crm.dynamics.com\n  auth: code\n"
    )
    use_connectors(folder)
    body = fixture_bytes("dynamics/contact_update.json")
    assert post(client, body, key=None, path=f"/webhooks/dyn-code?code={KEY}").status_code == 200
    assert post(client, body, key=None, path="/webhooks/dyn-code?code=nope").status_code == 401
    assert (
        post(client, body, key=KEY, path="/webhooks/dyn-code").status_code == 401
    )  # header is not the key here


def test_chorus_own_write_echo_is_skipped(crm, client):
    seed_written(
        crm.hub,
        "person-maya",
        "dynamics",
        "6d81597f-0f9f-e711-8122-000d3aa2331c",
        "dynamics",
        {"chorus_advocatescore": "72"},
    )
    assert post(client, fixture_bytes("dynamics/contact_update.json")).status_code == 200
    drain(crm.hub)
    assert crm.hub.store.connector_interactions("dynamics", 10) == []
    assert crm.hub.store.event_counts("dynamics").get("skipped_echo") == 1


# ---- sink -----------------------------------------------------------------------------------
def token_ok(rsps, times: int = 1):
    for _ in range(times):
        rsps.post(
            TOKEN_URL,
            json=fixture_json("dynamics/token_response.json"),
            match=[
                matchers.urlencoded_params_matcher(
                    {
                        "grant_type": "client_credentials",
                        "client_id": SECRETS["TEST_DYNAMICS_CLIENT_ID"],
                        "client_secret": SECRETS["TEST_DYNAMICS_CLIENT_SECRET"],
                        "scope": f"{BASE}/.default",
                    }
                )
            ],
        )


def test_upsert_patches_by_alternate_key_without_conditional_headers(crm):
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        rsps.patch(UPSERT, status=201, json=fixture_json("dynamics/upsert_representation.json"))
        [result] = _provider().upsert([record(1)], crm.connector("dynamics"), crm.http)
        sent = rsps.calls[1].request
    assert json.loads(sent.body) == {
        "chorus_advocatescore": 71,
        "chorus_advocatetier": "advocate",
        "chorus_latestnps": 9,
    }
    assert "If-Match" not in sent.headers and "If-None-Match" not in sent.headers
    assert sent.headers["OData-Version"] == "4.0" and sent.headers["Prefer"] == "return=representation"
    assert (
        sent.headers["Authorization"]
        == "Bearer " + fixture_json("dynamics/token_response.json")["access_token"]
    )
    assert result.ok and result.created and result.crm_id == "6d81597f-0f9f-e711-8122-000d3aa2331c"


def test_204_update_reads_the_id_from_odata_entityid_and_quotes_the_key_as_typed(crm):
    url = f"{BASE}/api/data/v9.2/contacts(emailaddress1='O''Brien%2Btag@example.com')"
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        rsps.patch(
            url,
            status=204,
            headers={
                "OData-EntityId": f"{BASE}/api/data/v9.2/contacts(6d81597f-0f9f-e711-8122-000d3aa2331c)"
            },
        )
        [result] = _provider().upsert(
            [record(1, email="O'Brien+tag@example.com")], crm.connector("dynamics"), crm.http
        )
    assert result.ok and not result.created and result.crm_id == "6d81597f-0f9f-e711-8122-000d3aa2331c"


def test_partial_failure_and_token_refresh(crm):
    with responses.RequestsMock() as rsps:
        token_ok(rsps, times=2)
        rsps.patch(UPSERT, status=401, json={"error": {"code": "0x80072560", "message": "token expired"}})
        rsps.patch(UPSERT, status=200, json=fixture_json("dynamics/upsert_representation.json"))
        rsps.patch(UPSERT.replace("fan1", "fan2"), status=400, json=fixture_json("dynamics/error_400.json"))
        ok, bad = _provider().upsert([record(1), record(2)], crm.connector("dynamics"), crm.http)
    assert ok.ok and not ok.created
    assert not bad.ok and not bad.retryable and "matching key values" in bad.error


@pytest.mark.parametrize("retry_after", ["3", None])
def test_429_service_protection_honours_retry_after(crm, sleeps, retry_after):
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        rsps.patch(
            UPSERT,
            status=429,
            headers={"Retry-After": retry_after} if retry_after else {},
            json={"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit"}},
        )
        rsps.patch(UPSERT, status=204)
        [result] = _provider().upsert([record(1)], crm.connector("dynamics"), crm.http)
    assert result.ok and len(sleeps) == 1 and (sleeps[0] == 3.0 if retry_after else sleeps[0] <= 0.5)


def test_5xx_and_timeout_end_retryable(crm, sleeps):
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        for failure in ({"status": 503}, {"body": requests.exceptions.Timeout()}) * 2:
            rsps.patch(UPSERT, **failure)
        [result] = _provider().upsert([record(1)], crm.connector("dynamics"), crm.http)
    assert not result.ok and result.retryable and len(sleeps) == 3


def _provider():
    from chalicelib.providers import get_provider

    return get_provider("dynamics")


def test_a_known_contact_is_updated_by_contactid_and_a_deleted_one_is_reported_gone(crm):
    """Dataverse: PATCH contacts(<id>) with If-Match: * updates only; a deleted row answers 404
    instead of being created again under that id (update-delete-entities-using-web-api)."""
    from responses import matchers

    contact = "6d81597f-0f9f-e711-8122-000d3aa2331c"
    by_id = f"{BASE}/api/data/v9.2/contacts({contact})"
    known = record(1, crm_ids={"dynamics": contact})
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        rsps.patch(
            by_id,
            match=[matchers.header_matcher({"If-Match": "*"})],
            json={"contactid": contact},
        )
        rsps.patch(by_id, status=404, json={"error": {"code": "0x80040217", "message": "Does Not Exist"}})
        [ok] = _provider().upsert([known], crm.connector("dynamics"), crm.http)
        [gone] = _provider().upsert([known], crm.connector("dynamics"), crm.http)
    assert ok.ok and ok.crm_id == contact
    assert not gone.ok and gone.gone


def test_a_delete_without_the_row_id_is_a_malformed_entry_not_an_error(client, workers, hub):
    context = fixture_json("dynamics/contact_delete.json")
    context["PrimaryEntityId"] = None
    context["InputParameters"][0]["value"] = ["not an EntityReference"]
    assert post(client, json.dumps(context).encode()).status_code == 200
    workers.drain()
    assert hub.store.event_counts("dynamics").get("skipped_malformed_entry") == 1
    assert hub.store.dead_letters("dynamics", 10) == []
