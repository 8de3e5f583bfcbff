"""The real local hub over HTTP: `chorus serve` on a port of its own, signed deliveries, admin API."""

import json
import time

import pytest
import requests

from tests.support.local_hub import ServedHub, hub_env
from tests.support.senders import SECRETS, fixture_bytes, hubspot_headers, typeform_headers, x_headers

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path):
    env = hub_env()
    env.pop("CHORUS_CONFIG_DIR", None)
    hub = ServedHub(tmp_path, env=env).start(wait=60)
    yield hub.base, tmp_path
    hub.stop()


def wait_for(fetch, predicate, seconds=20.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = fetch()
        if predicate(value):
            return value
        time.sleep(0.2)
    return value


def test_signed_deliveries_over_http_end_up_in_the_admin_api(server):
    base, workdir = server
    admin = {"Authorization": f"Bearer {SECRETS['CHORUS_ADMIN_TOKEN']}"}
    survey = fixture_bytes("typeform/form_response.json")
    assert (
        requests.post(
            f"{base}/webhooks/typeform-nps", data=survey, headers=typeform_headers(survey)
        ).status_code
        == 200
    )

    def people():
        return requests.get(f"{base}/admin/advocates", params={"min_score": -1000}, headers=admin).json()[
            "items"
        ]

    def maya_keys(items):
        return {
            f"{r['namespace']}#{r['value']}"
            for p in items
            if p.get("email") == "maya.chen@example.com"
            for r in p["identities"]
        }

    # A survey's hidden field is weaker evidence (0.7) than the merge threshold (0.8): it links the
    # handle only while nobody else holds it. Two workers may take the deliveries in any order, so
    # the survey is processed first, as a real survey answered before the fan tweets would be.
    wait_for(people, lambda items: "x_handle#maya_builds" in maya_keys(items), 40)
    tweets = fixture_bytes("x/tweet_create_events.json")
    assert (
        requests.post(f"{base}/webhooks/x-brand", data=tweets, headers=x_headers(tweets)).status_code == 200
    )
    crc = requests.get(f"{base}/webhooks/x-brand", params={"crc_token": "abc"})
    assert crc.json()["response_token"].startswith("sha256=")
    events = fixture_bytes("hubspot/contact_events.json")
    port = base.rsplit(":", 1)[1]
    uri = f"http://127.0.0.1:{port}/webhooks/hubspot"
    assert (
        requests.post(
            f"{base}/webhooks/hubspot", data=events, headers=hubspot_headers(events, uri)
        ).status_code
        == 200
    )
    assert (
        requests.post(
            f"{base}/webhooks/typeform-nps", data=survey, headers=typeform_headers(b"tampered")
        ).status_code
        == 401
    )
    # Jotform signs nothing: its URL token travels in the query string, which no log line may show
    token = SECRETS["TEST_JOTFORM_URL_TOKEN"]
    assert (
        requests.post(
            f"{base}/webhooks/jotform-feedback",
            params={"token": token},
            data=b"not multipart",
            headers={"Content-Type": "text/plain"},
        ).status_code
        == 415
    )

    expected = {"x#1420873350012977153", "hubspot#98765432101"}
    everyone = wait_for(people, lambda items: expected <= maya_keys(items), 40)
    maya = next(p for p in everyone if p["email"] == "maya.chen@example.com")
    # the survey's hidden x_handle, the tweet's author and the HubSpot email all resolve to one person
    keys = {f"{r['namespace']}#{r['value']}" for r in maya["identities"]}
    assert {
        "email#maya.chen@example.com",
        "x_handle#maya_builds",
        "x#1420873350012977153",
        "hubspot#98765432101",
    } <= keys
    # the workers run beside the HTTP server: an identity link can be read before its interaction
    timeline = wait_for(
        lambda: requests.get(
            f"{base}/admin/interactions", params={"person_id": maya["person_id"]}, headers=admin
        ).json(),
        lambda t: {i["provider"] for i in t["items"]} == {"typeform", "x", "hubspot"},
    )
    assert {i["provider"] for i in timeline["items"]} == {"typeform", "x", "hubspot"}
    assert (
        requests.get(f"{base}/admin/advocates", headers={"Authorization": "Bearer nope"}).status_code == 401
    )

    sync_file = workdir / "crm-sync.jsonl"
    lines = wait_for(lambda: sync_file.read_text().splitlines() if sync_file.exists() else [], bool)
    assert any(json.loads(line)["properties"].get("email") == "maya.chen@example.com" for line in lines)

    log_text = (workdir / "serve.log").read_text()
    access = [json.loads(line) for line in log_text.splitlines() if '"message":"request"' in line]
    assert {"method": "POST", "path": "/webhooks/jotform-feedback", "status": 415} in [
        {k: line.get(k) for k in ("method", "path", "status")} for line in access
    ]
    for secret in SECRETS.values():
        assert secret not in log_text
    assert "maya.chen@example.com" not in log_text
    assert "Traceback" not in log_text
