"""One error body everywhere: {"error": code, "message": text} (webhook answers add `delivery_id`),
also for Chalice's own errors and for a mistyped admin route (never API Gateway's 403, whose
message echoes the Authorization header). Each case runs on the Chalice app (`chalice.test`, the
routing API Gateway gets) and through the local hub's HTTP front (waitress, real sockets)."""

import http.client
import json
import re
import threading

import pytest

from tests.support.senders import SECRETS

TOKEN = SECRETS["CHORUS_ADMIN_TOKEN"]
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(params=["chalice", "front"])
def call(request, backend):
    """send(method, path, headers, body) -> (status, lower-cased headers, body bytes)."""
    import app as chalice_app

    if request.param == "chalice":
        from chalice.test import Client

        with Client(chalice_app.app) as client:

            def send(method: str, path: str, headers: dict | None = None, body: bytes = b""):
                answer = client.http.request(method, path, headers=headers or {}, body=body)
                return answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.body

            yield send
        return
    from chalicelib.runtime.local_http import create_front

    front = create_front(chalice_app.app, "127.0.0.1", 0, max_body_bytes=1024 * 1024)
    thread = threading.Thread(target=front.run, daemon=True)
    thread.start()

    def send(method: str, path: str, headers: dict | None = None, body: bytes = b""):
        conn = http.client.HTTPConnection("127.0.0.1", front.port, timeout=10)
        try:
            conn.request(method, path, body=body or None, headers=headers or {})
            answer = conn.getresponse()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        finally:
            conn.close()

    yield send
    front.close()
    thread.join(5)


def one_shape(status: int, headers: dict, body: bytes) -> dict:
    """The Chorus error body, checked strictly: JSON, `error` a snake_case code, `message` text,
    nothing else but a webhook's `delivery_id`."""
    assert status >= 400, (status, body)
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body)
    doc = json.loads(body)
    assert isinstance(doc, dict) and {"error", "message"} <= set(doc) <= {
        "error",
        "message",
        "delivery_id",
    }, doc
    assert re.fullmatch(r"[a-z][a-z0-9_]*", doc["error"]), doc
    assert isinstance(doc["message"], str) and doc["message"], doc
    return doc


# Who calls: only the first is an admin. The others must learn nothing, and see nothing of what they sent.
CALLERS = {
    "admin": f"Bearer {TOKEN}",
    "no-token": None,
    "wrong-token": "Bearer guess-0123456789",
    "bare-token": TOKEN,
    "basic": f"Basic {TOKEN}",
}
MISTYPED = [
    "/admin/conectors",
    "/admin/anything-unknown",
    "/admin",
    "/admin/",
    "/admin/people/p1/exports",
    "/admin/connectors/typeform-nps/test-deliveries",
    "/admin/dead-letters/c/l/replay/now",
]


@pytest.mark.parametrize("path", MISTYPED)
def test_a_mistyped_admin_route_is_404_json_for_an_admin_and_401_json_otherwise(path, call):
    for caller, authorization in CALLERS.items():
        headers = {} if authorization is None else {"Authorization": authorization}
        for method in ("GET", "POST", "DELETE", "PUT"):
            status, answer_headers, body = call(method, path, headers)
            expected = (404, "not_found") if caller == "admin" else (401, "unauthorized")
            assert (status, one_shape(status, answer_headers, body)["error"]) == expected, (
                caller,
                method,
                status,
                body,
            )
            assert TOKEN.encode() not in body and b"guess" not in body, (caller, method, body)
        status, _, _ = call("HEAD", path, headers)
        assert status == (404 if caller == "admin" else 401), (caller, "HEAD", status)


def test_unknown_admin_paths_are_caught_to_two_segments_below_the_deepest_admin_route(call):
    """Past the catch-all routes API Gateway would answer its own 403: a deeper admin route needs
    a deeper catch-all (app.UNKNOWN_ADMIN_DEPTH)."""
    import app as chalice_app

    deepest = max(
        path.count("/") - 1
        for path, methods in chalice_app.app.routes.items()
        if path.startswith("/admin")
        and all(entry.view_function is not chalice_app.admin_unknown_route for entry in methods.values())
    )
    for depth in range(deepest + 3):
        path = "/admin" + "/zz" * depth
        status, headers, body = call("GET", path, ADMIN)
        assert (status, one_shape(status, headers, body)["error"]) == (404, "not_found"), (path, body)


# (method, path, headers, body, status, error): refusals of every route family
REFUSALS = [
    ("POST", "/webhooks/no-such-connector", JSON, b"{}", 404, "unknown_connector"),
    ("POST", "/webhooks/typeform-nps", JSON, b"{}", 401, "missing_signature"),
    ("POST", "/webhooks/typeform-nps", {"Content-Type": "image/png"}, b"png", 415, "unsupported_media_type"),
    ("PUT", "/webhooks/typeform-nps", JSON, b"{}", 405, "method_not_allowed"),
    ("DELETE", "/health", {}, b"", 405, "method_not_allowed"),
    ("GET", "/admin/people", {}, b"", 401, "unauthorized"),
    ("GET", "/admin/advocates?limit=0", ADMIN, b"", 400, "bad_request"),
    ("GET", "/admin/people/nobody", ADMIN, b"", 404, "not_found"),
    ("POST", "/admin/merges/nope/undo", ADMIN, b"", 404, "unknown_merge"),
    ("POST", "/admin/merges", {**ADMIN, **JSON}, b"not json", 400, "bad_request"),
    ("GET", "/admin/charts/nope", ADMIN, b"", 404, "not_found"),
    ("GET", "/console/nope.js", {}, b"", 404, "not_found"),
    ("GET", "/admin/conectors", ADMIN, b"", 404, "not_found"),
]


def test_refusals_of_webhooks_admin_console_and_health_share_one_shape(call):
    for method, path, headers, body, status, error in REFUSALS:
        got, answer_headers, answer = call(method, path, headers, body)
        assert (got, one_shape(got, answer_headers, answer)["error"]) == (status, error), (
            method,
            path,
            answer,
        )


@pytest.mark.parametrize("call", ["front"], indirect=True)
def test_the_local_fronts_own_refusals_have_the_same_shape(call):
    """What the local hub's front answers before the app runs."""
    for path, headers, status, error in [
        ("/nothing/here", {}, 404, "not_found"),
        ("/webhooks/x-brand?crc_token=" + "a" * 20_000, {}, 414, "uri_too_long"),
        ("/health", {f"X-Filler-{n}": "x" for n in range(150)}, 431, "too_many_headers"),
    ]:
        got, answer_headers, answer = call("GET", path, headers)
        assert (got, one_shape(got, answer_headers, answer)["error"]) == (status, error), (path, answer)
