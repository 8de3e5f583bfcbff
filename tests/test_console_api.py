"""The console's page and the admin routes it uses (through the Chalice app, moto behind it)."""

from __future__ import annotations

import json

from tests.support.admin import send_survey, send_tweet, survey, tweet
from tests.support.senders import SECRETS, fixture_bytes, typeform_headers


def test_the_page_is_served_without_any_secret_and_with_a_strict_policy(client):
    response = client.http.get("/console")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    page = response.body.decode()
    assert SECRETS["CHORUS_ADMIN_TOKEN"] not in page and "<script>" not in page  # no inline script
    script = client.http.get("/console/console.js")
    assert script.status_code == 200 and "localStorage" not in script.body.decode()
    assert "document.cookie" not in script.body.decode()
    for name in ("..%2Fassets.py", "nope.js", ".hidden.css", "assets.py"):
        assert client.http.get(f"/console/{name}").status_code == 404


def test_charts_are_svg_behind_admin_auth(client, hub, workers, admin_headers):
    send_tweet(client, tweet())
    workers.drain()
    for name in ("deliveries.svg", "pulse-talk.svg", "pulse-sentiment.svg", "pulse-nps.svg"):
        assert client.http.get(f"/admin/charts/{name}").status_code == 401
        response = client.http.get(
            f"/admin/charts/{name}?from=2026-11-20&to=2026-11-30", headers=admin_headers
        )
        assert response.status_code == 200 and response.headers["Content-Type"] == "image/svg+xml"
        assert response.body.decode().startswith("<svg") and "<script" not in response.body.decode()
    talk = client.http.get(
        "/admin/charts/pulse-talk.svg?from=2026-11-20&to=2026-11-30", headers=admin_headers
    )
    assert (
        '<rect class="s0"' in talk.body.decode() and ">x</text>" in talk.body.decode()
    )  # x's bar and legend
    assert client.http.get("/admin/charts/other.svg", headers=admin_headers).status_code == 404
    assert (
        client.http.get("/admin/charts/pulse-nps.svg?interval=year", headers=admin_headers).status_code == 400
    )


def test_connector_detail_and_a_signed_test_delivery_through_the_pipeline(
    client, hub, workers, admin_headers
):
    detail = json.loads(client.http.get("/admin/connectors/typeform-nps", headers=admin_headers).body)
    assert detail["webhook_path"] == "/webhooks/typeform-nps" and detail["can_sign_test_delivery"] is True
    assert detail["expects"]["signature_header"] == "typeform-signature"
    assert SECRETS["TEST_TYPEFORM_SECRET"] not in json.dumps(detail)
    body = fixture_bytes("typeform/form_response.json")
    response = client.http.post(
        "/admin/connectors/typeform-nps/test-delivery",
        body=body,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    answer = json.loads(response.body)
    assert answer["status"] == 200 and answer["answer"]["status"] == "accepted"
    workers.drain()
    record = hub.store.get_delivery(answer["delivery_id"])
    assert record.status == "processed" and record.chain[-1]["interactions"]
    assert client.http.post("/admin/connectors/typeform-nps/test-delivery", body=body).status_code == 401
    assert client.http.get("/admin/connectors/nope", headers=admin_headers).status_code == 404


def test_one_dead_letter_inspected_replayed_and_discarded(client, hub, workers, admin_headers):
    bad = json.dumps(
        {"event_id": "e1", "event_type": "form_response", "form_response": {"token": 5}}
    ).encode()
    for n in range(2):
        other = bad.replace(b"e1", f"e{n + 2}".encode())
        client.http.post("/webhooks/typeform-nps", body=other, headers=typeform_headers(other))
    workers.drain()
    listed = json.loads(
        client.http.get("/admin/dead-letters?connector_id=typeform-nps", headers=admin_headers).body
    )
    first, second = listed["items"]
    path = f"/admin/dead-letters/typeform-nps/{first['dead_letter_id']}"
    inspected = json.loads(client.http.get(path, headers=admin_headers).body)
    assert inspected["message"]["body_b64"] and inspected["reason"].startswith("cannot parse")
    assert client.http.post(path + "/replay", headers=admin_headers).status_code == 200
    assert client.http.get(path, headers=admin_headers).status_code == 404
    gone = f"/admin/dead-letters/typeform-nps/{second['dead_letter_id']}"
    assert client.http.delete(gone, headers=admin_headers).status_code == 200
    assert client.http.get(gone, headers=admin_headers).status_code == 404
    assert client.http.delete(gone).status_code == 401


def test_accepting_a_merge_suggestion_and_the_person_view(client, hub, workers, admin_headers):
    send_survey(client, survey(token="m1", email="one@example.com"))
    send_survey(client, survey(token="m2", email="two@example.com"))
    workers.drain()
    [a] = json.loads(client.http.get("/admin/people?email=one@example.com", headers=admin_headers).body)[
        "items"
    ]
    [b] = json.loads(client.http.get("/admin/people?email=two@example.com", headers=admin_headers).body)[
        "items"
    ]
    if a["person_id"] == b["person_id"]:  # the fixture's hidden fields tied them already
        return
    merged = client.http.post(
        "/admin/merges",
        body=json.dumps({"survivor_id": a["person_id"], "merged_id": b["person_id"]}),
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    assert merged.status_code == 200, merged.body
    person = json.loads(client.http.get(f"/admin/people/{a['person_id']}", headers=admin_headers).body)
    assert [m["merge_id"] for m in person["merge_records"]] == [json.loads(merged.body)["merge_id"]]
    assert {s["connector_id"] for s in person["sync_states"]} == {c.id for c in hub.connectors.sinks()}
    bad = client.http.post(
        "/admin/merges", body="{}", headers={**admin_headers, "Content-Type": "application/json"}
    )
    assert bad.status_code == 400


def test_loop_rules(client, admin_headers):
    doc = json.loads(client.http.get("/admin/loop", headers=admin_headers).body)
    assert {r["rule"] for r in doc["rules"]} == {
        "detractor_answer",
        "angry_public_post",
        "promoter_posted_publicly",
    }
    assert all(r["cooldown_days"] > 0 for r in doc["rules"])


def test_a_listeners_detail_gives_its_feeds_health_and_no_webhook_url(lhub, client, admin_headers):
    from datetime import UTC, datetime

    from chalicelib.store.listener_cursors import ListenerCursor

    ran = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    lhub.store.put_cursor(
        ListenerCursor("hn-brand", "Chorus", last_run_at=ran, failures=2, last_error="HTTP 503 from hn.test")
    )
    detail = json.loads(client.http.get("/admin/connectors/hn-brand", headers=admin_headers).body)
    assert detail["webhook_path"] is None and "expects" not in detail  # it takes no webhooks
    assert detail["listener"]["failures"] == 2 and detail["listener"]["feeds"] == [
        {
            "feed": "Chorus",
            "last_run_at": ran.isoformat(),
            "last_ok_at": None,
            "failures": 2,
            "last_error": "HTTP 503 from hn.test",
        }
    ]
    webhook = json.loads(client.http.get("/admin/connectors/slack-members", headers=admin_headers).body)
    assert webhook["listener"] is None and webhook["webhook_path"] == "/webhooks/slack-members"
