"""One error body everywhere: {"error": code, "message": text}, also for Chalice's own errors and
for a mistyped admin route (never API Gateway's 403, whose message echoes the Authorization header)."""

import json

import pytest


def _error(answer) -> dict:
    body = json.loads(answer.body)
    assert set(body) >= {"error", "message"} and isinstance(body["error"], str), body
    return body


@pytest.mark.parametrize(
    "path,method",
    [("/admin/peeple", "GET"), ("/admin/people/p1/exports", "GET"), ("/admin/x/y/z/w", "DELETE")],
)
def test_a_mistyped_admin_route_is_404_json_for_an_admin_and_401_otherwise(
    path, method, client, admin_headers
):
    answer = client.http.request(method, path, headers=admin_headers)
    assert answer.status_code == 404
    body = _error(answer)
    assert (
        body["error"] == "not_found"
        and admin_headers["Authorization"].split()[-1] not in answer.body.decode()
    )
    stranger = client.http.request(method, path, headers={"Authorization": "Bearer guess"})
    assert stranger.status_code == 401 and _error(stranger)["error"] == "unauthorized"
    assert b"guess" not in stranger.body


def test_chalice_errors_take_the_chorus_shape(client, admin_headers):
    bad_limit = client.http.get("/admin/advocates?limit=0", headers=admin_headers)
    assert bad_limit.status_code == 400
    assert _error(bad_limit) == {
        "error": "bad_request",
        "message": "limit must be a whole number from 1 to 500",
    }
    missing = client.http.get("/admin/people/nobody", headers=admin_headers)
    assert missing.status_code == 404 and _error(missing) == {
        "error": "not_found",
        "message": "no person nobody",
    }


def test_webhook_errors_have_the_same_shape(client):
    answer = client.http.post(
        "/webhooks/no-such-connector", body=b"{}", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 404 and _error(answer)["error"] == "unknown_connector"
