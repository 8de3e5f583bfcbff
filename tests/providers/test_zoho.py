"""Zoho CRM: notification callbacks (token check, ids fetched through the API) and the
Contacts upsert, against fakes shaped like Zoho's documented requests and responses."""

import base64
import json

import pytest
import requests
import responses
from responses import matchers

from chalicelib.errors import UpstreamError
from tests.support.crm import crm, drain, fresh_tokens, record, seed_written, sleeps  # noqa: F401
from tests.support.paths import CRM_CONNECTORS
from tests.support.senders import SECRETS, fixture_bytes, fixture_json

TOKEN_URL = "https://accounts.zoho.eu/oauth/v2/token"
API = "https://www.zohoapis.eu/crm/v8/Contacts"
ACCESS = fixture_json("zoho/token_response.json")["access_token"]


def token_ok(rsps, times: int = 1):
    for _ in range(times):
        rsps.post(
            TOKEN_URL,
            json=fixture_json("zoho/token_response.json"),
            match=[
                matchers.urlencoded_params_matcher(
                    {
                        "grant_type": "refresh_token",
                        "client_id": SECRETS["TEST_ZOHO_CLIENT_ID"],
                        "client_secret": SECRETS["TEST_ZOHO_CLIENT_SECRET"],
                        "refresh_token": SECRETS["TEST_ZOHO_REFRESH_TOKEN"],
                    }
                )
            ],
        )


def fetch_ok(rsps):
    rsps.get(
        API,
        json=fixture_json("zoho/records.json"),
        match=[
            matchers.query_param_matcher({"ids": "5843104000000424672"}, strict_match=False),
            matchers.header_matcher({"Authorization": f"Zoho-oauthtoken {ACCESS}"}),
        ],
    )


def post(client, body: bytes):
    return client.http.post("/webhooks/zoho", body=body, headers={"Content-Type": "application/json"})


# ---- source ---------------------------------------------------------------------------------
def test_notification_fetches_the_record_and_becomes_a_crm_update(client, workers, hub):
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        fetch_ok(rsps)
        assert post(client, fixture_bytes("zoho/notification.json")).status_code == 200
        workers.drain()
        fields = rsps.calls[1].request.params["fields"].split(",")
    assert {"Email", "Chorus_Advocate_Score"} <= set(fields)  # `fields` is mandatory on GET records
    [item] = hub.store.connector_interactions("zoho", 10)
    assert (
        item.author.email == "maya.chen@example.com" and item.author.provider_user_id == "5843104000000424672"
    )
    assert (item.crm_change.property, item.crm_change.value) == ("Chorus_Advocate_Score", "72")
    assert item.occurred_at.isoformat() == "2024-05-01T10:00:00+00:00"


def test_duplicate_callbacks_are_stored_once(client, workers, hub):
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        for _ in range(2):
            fetch_ok(rsps)
            assert post(client, fixture_bytes("zoho/notification.json")).status_code == 200
        workers.drain()
    assert len(hub.store.connector_interactions("zoho", 10)) == 1


def test_channel_token_cases(client):
    body = fixture_json("zoho/notification.json")
    wrong = dict(body, token="TOKEN_GUESSED")
    missing = {k: v for k, v in body.items() if k != "token"}
    other_channel = dict(body, channel_id="999")
    assert post(client, json.dumps(wrong).encode()).status_code == 401
    assert json.loads(post(client, json.dumps(missing).encode()).body)["error"] == "missing_signature"
    assert post(client, json.dumps(other_channel).encode()).status_code == 401
    assert post(client, b"{not json").status_code == 400


def test_chorus_own_write_echo_is_skipped(crm, client):
    seed_written(
        crm.hub, "person-maya", "zoho", "5843104000000424672", "zoho", {"Chorus_Advocate_Score": "72"}
    )
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        fetch_ok(rsps)
        assert post(client, fixture_bytes("zoho/notification.json")).status_code == 200
        drain(crm.hub)
    assert crm.hub.store.connector_interactions("zoho", 10) == []
    assert crm.hub.store.event_counts("zoho").get("skipped_echo") == 1


# ---- sink -----------------------------------------------------------------------------------
def test_upsert_by_email_with_per_record_codes(crm):
    ok = fixture_json("zoho/upsert_response.json")["data"]
    records = [record(1), record(2), record(3)]
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        rsps.post(f"{API}/upsert", json={"data": ok})
        rsps.post(
            f"{API}/upsert",
            json={
                "data": [
                    dict(
                        ok[0],
                        action="insert",
                        message="record added",
                        details=dict(ok[0]["details"], id="5843104000000999001"),
                    )
                ]
            },
        )
        results = _provider().upsert(records, crm.connector("zoho"), crm.http)
        first, second = (json.loads(c.request.body) for c in rsps.calls[1:])
        assert rsps.calls[1].request.headers["Authorization"] == f"Zoho-oauthtoken {ACCESS}"
    assert first["duplicate_check_fields"] == ["Email"]
    assert first["data"][0] == {
        "Email": "fan1@example.com",
        "Chorus_Advocate_Score": 71,
        "Chorus_Advocate_Tier": "advocate",
        "Chorus_Latest_NPS": 9,
    }
    assert [row["Email"] for row in second["data"]] == ["fan2@example.com"]  # only the one lacking Last_Name
    assert second["data"][0]["Last_Name"] == "Fan Number2"
    updated, created, invalid = results
    assert updated.ok and updated.crm_id == "5843104000000424672" and not updated.created
    assert updated.written["Chorus_Advocate_Score"] == "71"
    assert created.ok and created.created and created.crm_id == "5843104000000999001"
    assert not invalid.ok and not invalid.retryable and "INVALID_DATA" in invalid.error


def test_expired_token_refreshes_once_then_succeeds(crm):
    with responses.RequestsMock() as rsps:
        token_ok(rsps, times=2)
        rsps.post(f"{API}/upsert", status=401, json=fixture_json("zoho/invalid_token.json"))
        rsps.post(f"{API}/upsert", json={"data": fixture_json("zoho/upsert_response.json")["data"][:1]})
        [result] = _provider().upsert([record(1)], crm.connector("zoho"), crm.http)
        assert [c.request.url.split("?")[0] for c in rsps.calls] == [TOKEN_URL, f"{API}/upsert"] * 2
    assert result.ok


def test_refresh_rejected_is_permanent(crm):
    with responses.RequestsMock() as rsps:
        rsps.post(TOKEN_URL, json={"error": "invalid_code"})  # Zoho answers 200 with an error
        with pytest.raises(UpstreamError) as caught:
            _provider().upsert([record(1)], crm.connector("zoho"), crm.http)
    assert not caught.value.retryable and "invalid_code" in str(caught.value)


@pytest.mark.parametrize("retry_after", ["1", None])
def test_429_then_success(crm, sleeps, retry_after):
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        rsps.post(
            f"{API}/upsert",
            status=429,
            headers={"Retry-After": retry_after} if retry_after else {},
            json={"code": "TOO_MANY_REQUESTS"},
        )
        rsps.post(f"{API}/upsert", json={"data": fixture_json("zoho/upsert_response.json")["data"][:1]})
        [result] = _provider().upsert([record(1)], crm.connector("zoho"), crm.http)
    assert result.ok and len(sleeps) == 1 and (sleeps[0] == 1.0 if retry_after else sleeps[0] <= 0.5)


def test_long_retry_after_and_5xx_and_timeout_are_retryable(crm, sleeps):
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        rsps.post(f"{API}/upsert", status=429, headers={"Retry-After": "600"}, json={})
        with pytest.raises(UpstreamError) as caught:
            _provider().upsert([record(1)], crm.connector("zoho"), crm.http)
        assert caught.value.retryable and caught.value.retry_after == 600 and sleeps == []
        for failure in ({"status": 500, "json": {}}, {"body": requests.exceptions.Timeout()}) * 2:
            rsps.post(f"{API}/upsert", **failure)
        with pytest.raises(UpstreamError) as caught:
            _provider().upsert([record(1)], crm.connector("zoho"), crm.http)
    assert caught.value.retryable


def _provider():
    from chalicelib.providers import get_provider

    return get_provider("zoho")


# ---- channel token, token throttle, channel renewal (issue 12 item 7) -----------------------
def test_the_channel_token_is_verified_then_never_queued(client, hub, monkeypatch):
    queued = []
    monkeypatch.setattr(hub.ingest_queue, "send", queued.append)
    assert post(client, fixture_bytes("zoho/notification.json")).status_code == 200
    [envelope] = queued
    body = json.loads(base64.b64decode(envelope["body_b64"]))
    assert "token" not in body and body["ids"] == ["5843104000000424672"]  # the rest as Zoho sent it
    assert SECRETS["TEST_ZOHO_CHANNEL_TOKEN"] not in json.dumps(envelope)
    tampered = fixture_bytes("zoho/notification.json").replace(b"TOKEN_FOR", b"TOKEN_NOT")
    assert post(client, tampered).status_code == 401 and len(queued) == 1


def test_the_token_endpoints_throttle_is_retryable_not_permanent(crm):
    # Zoho allows 10 access tokens per refresh token in 10 minutes; its refusal is "Access Denied"
    # with HTTP 200. Before, it was permanent: every sync and inbound fetch was dead-lettered.
    throttle = {
        "error_description": "You have made too many requests continuously. Please try again after some time.",
        "error": "Access Denied",
        "status": "failure",
    }
    with responses.RequestsMock() as rsps:
        rsps.post(TOKEN_URL, json=throttle)
        with pytest.raises(UpstreamError) as raised:
            _provider().upsert([record(1)], crm.connector("zoho"), crm.http)
    assert raised.value.retryable and raised.value.retry_after == 60


def test_chorus_creates_and_renews_the_notification_channel(crm, tmp_path, use_connectors):
    from datetime import UTC, datetime

    from chalicelib.channels import renew_channels
    from chalicelib.runtime.aws import get_hub

    folder = tmp_path / "conf"
    folder.mkdir()
    text = (CRM_CONNECTORS / "zoho.yaml").read_text()
    (folder / "zoho.yaml").write_text(text + "  notify_url: https://hooks.example.com/webhooks/zoho\n")
    (folder / "other.yaml").write_text(text.replace("id: zoho", "id: zoho-2"))  # no notify_url: left alone
    use_connectors(folder)
    hub = get_hub()
    watch = "https://www.zohoapis.eu/crm/v8/actions/watch"
    answer = {  # Zoho's documented answer to Enable Notifications
        "watch": [
            {
                "code": "SUCCESS",
                "details": {
                    "events": [
                        {
                            "channel_expiry": "2026-12-07T23:00:00+00:00",
                            "resource_name": "Contacts",
                            "channel_id": "1000000068001",
                        }
                    ]
                },
                "message": "Successfully subscribed for actions-watch of the given module",
                "status": "success",
            }
        ]
    }
    with responses.RequestsMock() as rsps:
        token_ok(rsps)
        rsps.post(
            watch,
            json=answer,
            match=[matchers.header_matcher({"Authorization": f"Zoho-oauthtoken {ACCESS}"})],
        )
        outcome = renew_channels(hub)
        sent = json.loads(rsps.calls[1].request.body)
    [channel] = sent["watch"]
    assert channel["channel_id"] == 1000000068001 and channel["events"] == ["Contacts.all"]
    assert channel["notify_url"] == "https://hooks.example.com/webhooks/zoho"
    assert channel["token"] == SECRETS["TEST_ZOHO_CHANNEL_TOKEN"]
    days = (datetime.fromisoformat(channel["channel_expiry"]) - datetime.now(UTC)).total_seconds() / 86400
    assert 5.9 < days <= 6  # Zoho's maximum is a week; its default (no expiry) one hour
    assert list(outcome.renewed) == ["zoho"] and outcome.failed == {}
    with responses.RequestsMock() as rsps:  # a refusal is reported, not raised
        rsps.post(watch, status=400, json={"watch": [{"code": "INVALID_DATA", "status": "error"}]})
        outcome = renew_channels(hub)
    assert outcome.renewed == {} and "INVALID_DATA" in outcome.failed["zoho"]


def test_one_token_serves_every_worker_through_the_store_sealed(crm):
    # Zoho allows 10 tokens per refresh token in 10 minutes: cold workers share the one token the
    # first fetched, from the store (a process cache alone let every cold Lambda fetch its own).
    from chalicelib.providers import oauth
    from chalicelib.providers.http import TokenSession

    worker_a, worker_b = (
        TokenSession(requests.Session(), crm.hub.store),
        TokenSession(requests.Session(), crm.hub.store),
    )
    grant = _provider().grant(crm.connector("zoho"))
    with responses.RequestsMock() as rsps:
        token_ok(rsps, times=1)
        first = oauth.get_token("zoho", worker_a, grant)
        oauth.clear_cache()  # another process: nothing in its memory
        second = oauth.get_token("zoho", worker_b, grant)
        assert len(rsps.calls) == 1
    assert second.access_token == first.access_token == ACCESS and second.extras == first.extras
    [(key, (sealed, _))] = [(k, v) for k, v in _stored_tokens(crm.hub.store)]
    assert ACCESS not in sealed and SECRETS["TEST_ZOHO_REFRESH_TOKEN"] not in key


def _stored_tokens(store):
    """The store's token entry for the `zoho` connector (its key is a hash of connector and grant)."""
    import hashlib

    cache_key = f"https://accounts.zoho.eu/oauth/v2/token|{SECRETS['TEST_ZOHO_CLIENT_ID']}|refresh_token"
    key = hashlib.sha256(f"zoho|{cache_key}".encode()).hexdigest()
    found = store.get_token(key)
    return [(key, found)] if found else []


def test_a_delete_callback_is_one_deletion_per_id_and_fetches_nothing(client, workers, hub):
    callback = fixture_json("zoho/notification_delete.json")
    callback["ids"] = ["5843104000000424672", "5843104000000424673"]
    with responses.RequestsMock():  # any call to Zoho would fail the test: the records are gone
        assert post(client, json.dumps(callback).encode()).status_code == 200
        workers.drain()
    # neither record is any person's: a deletion never makes a person
    assert hub.store.event_counts("zoho").get("skipped_unknown_record") == 2
    assert hub.store.connector_interactions("zoho", 10) == []


def test_channel_renewal_is_a_scheduled_job_locally_and_on_aws():
    import app
    from chalicelib.jobs import registered
    from chalicelib.providers.zoho import CHANNEL_DAYS

    renewal = next(job for job in registered() if job.target == "chalicelib.channels:renew_channels")
    # each renewal sets the expiry CHANNEL_DAYS ahead: many runs fit before a channel could lapse
    assert renewal.every_seconds * 4 < CHANNEL_DAYS * 86400
    assert callable(app.renew_channels)
