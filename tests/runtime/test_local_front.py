"""The local hub's HTTP front over real loopback sockets: framing, limits, timeouts, error bodies.

The front (waitress + the Chalice adapter) runs in this process on the app over the local hub's
storage, as `chorus serve` runs it, so each case is a raw request on a socket and what came back on it."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from tests.support.backends import consumers
from tests.support.senders import SECRETS, fixture_bytes, hubspot_headers, typeform_headers


@pytest.fixture
def front(backend):
    import app as chalice_app
    from chalicelib.runtime.local_http import create_front

    started = create_front(chalice_app.app, "127.0.0.1", 0, max_body_bytes=1024 * 1024)
    thread = threading.Thread(target=started.run, daemon=True)
    thread.start()
    yield started
    started.close()
    thread.join(5)


def exchange(port: int, raw: bytes, *, wait: float = 5.0) -> bytes:
    """Send `raw`, then read until the server closes or `wait` seconds pass with nothing new."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as conn:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)
        return read_all(conn, wait)


def read_all(conn: socket.socket, wait: float) -> bytes:
    conn.settimeout(wait)
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except TimeoutError:
        pass
    return data


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def body_of(answer: bytes) -> bytes:
    return answer.split(b"\r\n\r\n", 1)[1]


def test_a_signed_delivery_through_the_front_is_acknowledged_and_queued(front, hub):
    survey = fixture_bytes("typeform/form_response.json")
    headers = "".join(f"{k}: {v}\r\n" for k, v in typeform_headers(survey).items())
    raw = (
        f"POST /webhooks/typeform-nps HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
        f"Content-Length: {len(survey)}\r\nConnection: close\r\n\r\n"
    ).encode() + survey
    answer = exchange(front.port, raw)
    assert status_of(answer) == 200, answer
    assert json.loads(body_of(answer))["status"] == "accepted"
    [message] = consumers(hub)[hub.ingest_queue.name].receive(10)
    assert json.loads(message["body"])["connector_id"] == "typeform-nps"


def test_behind_a_tls_proxy_a_signature_over_the_https_url_holds(front, hub):
    # HubSpot v3 signs the URL it called; a tunnel or proxy terminating TLS says so in X-Forwarded-Proto
    events = fixture_bytes("hubspot/contact_events.json")
    signed = hubspot_headers(events, "https://hub.example.com/webhooks/hubspot")
    headers = "".join(f"{k}: {v}\r\n" for k, v in signed.items())
    raw = (
        f"POST /webhooks/hubspot HTTP/1.1\r\nHost: hub.example.com\r\nX-Forwarded-Proto: https\r\n{headers}"
        f"Content-Length: {len(events)}\r\nConnection: close\r\n\r\n"
    ).encode() + events
    assert status_of(exchange(front.port, raw)) == 200


def test_a_chunked_delivery_is_read_whole(front, hub):
    survey = fixture_bytes("typeform/form_response.json")
    headers = "".join(f"{k}: {v}\r\n" for k, v in typeform_headers(survey).items())
    half = len(survey) // 2
    chunks = b"".join(
        f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (survey[:half], survey[half:])
    )
    raw = (
        (
            f"POST /webhooks/typeform-nps HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ).encode()
        + chunks
        + b"0\r\n\r\n"
    )
    answer = exchange(front.port, raw)
    assert status_of(answer) == 200, answer
    assert answer.count(b"HTTP/1.1 ") == 1  # no second answer made of chunk bytes


def test_expect_100_continue_is_answered_before_the_body_is_sent(front):
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as conn:
        started = time.monotonic()
        conn.sendall(
            b"POST /webhooks/typeform-nps HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n"
        )
        conn.settimeout(2)
        interim = conn.recv(100)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        assert time.monotonic() - started < 0.5
        conn.sendall(b"{}")
        final = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n") :] or conn.recv(65536)
        assert status_of(final) == 401  # unsigned: the body was read and judged


def test_an_announced_body_over_the_limit_is_refused_before_it_is_sent(front):
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as conn:
        started = time.monotonic()
        conn.sendall(
            b"POST /webhooks/typeform-nps HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 8000000000\r\n\r\n{"
        )
        answer = read_all(conn, 3)
    assert status_of(answer) == 413
    assert time.monotonic() - started < 2


def test_a_chunked_body_over_the_limit_is_refused(front):
    import select

    chunk = b" " * 65536
    with socket.create_connection(("127.0.0.1", front.port), timeout=5) as conn:
        conn.sendall(
            b"POST /webhooks/typeform-nps HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        answer, sent = b"", 0
        while not answer and sent < 64:  # stop sending once the hub has answered
            conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += 1
            if select.select([conn], [], [], 0.05)[0]:
                answer = conn.recv(65536)
    assert status_of(answer) == 413
    assert 16 <= sent < 64  # refused past the 1 MiB limit, not before it, and without reading it all


def test_a_body_of_exactly_the_limit_is_read(front):
    body = b" " * (1024 * 1024)  # whitespace: within the limit, then refused for its content
    raw = (
        b"POST /webhooks/typeform-nps HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    assert status_of(exchange(front.port, raw)) == 401


@pytest.mark.parametrize(
    "lengths",
    [["abc"], ["1e3"], ["-5"], ["2", "12"]],
    ids=["letters", "exponent", "negative", "two-conflicting"],
)
def test_a_bad_content_length_gets_400_with_a_status_line(front, lengths):
    fields = "".join(f"Content-Length: {v}\r\n" for v in lengths)
    raw = f"POST /webhooks/typeform-nps HTTP/1.1\r\nHost: 127.0.0.1\r\n{fields}\r\n{{}}GET /health HTTP/1.1\r\n\r\n"
    answer = exchange(front.port, raw.encode())
    assert status_of(answer) == 400
    assert answer.count(b"HTTP/1.1 ") == 1  # nothing after the bad length is taken as a request


def test_an_over_long_url_gets_414(front):
    answer = exchange(front.port, b"GET /webhooks/x-brand?crc_token=" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n")
    assert status_of(answer) == 414
    assert json.loads(body_of(answer))["error"] == "uri_too_long"


def test_too_many_or_too_large_headers_get_431(front):
    many = "".join(f"X-Filler-{n}: {n}\r\n" for n in range(150))
    answer = exchange(front.port, f"GET /health HTTP/1.1\r\nHost: a\r\n{many}\r\n".encode())
    assert status_of(answer) == 431
    large = exchange(front.port, b"GET /health HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n")
    assert status_of(large) == 431
    try:  # past waitress's own limit: refused before it is all buffered; the close may reset
        huge = exchange(
            front.port, b"GET /health HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 300_000 + b"\r\n\r\n"
        )
        assert status_of(huge) == 431
    except ConnectionResetError:
        pass
    assert status_of(exchange(front.port, b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n")) == 200


def test_an_unknown_route_is_a_404_that_does_not_echo_the_token(front):
    token = SECRETS["CHORUS_ADMIN_TOKEN"]
    answer = exchange(
        front.port,
        f"GET /admin/nope HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode(),
    )
    assert status_of(answer) == 404
    assert json.loads(body_of(answer)) == {"error": "not_found", "message": "no such route"}
    assert token.encode() not in answer


def test_unknown_methods_get_a_status_line(front):
    for method in ("TRACE", "FOO"):
        answer = exchange(front.port, f"{method} /webhooks/typeform-nps HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        assert status_of(answer) in (405, 501)


def test_the_listen_backlog_takes_a_burst_of_connects_while_nothing_accepts(backend):
    import app as chalice_app
    from chalicelib.runtime.local_http import create_front

    idle = create_front(chalice_app.app, "127.0.0.1", 0, max_body_bytes=1024)  # listening, not run
    conns = []
    try:
        started = time.monotonic()
        for _ in range(150):  # with http.server's backlog of 5 the 7th SYN is dropped (1 s retry)
            conns.append(socket.create_connection(("127.0.0.1", idle.port), timeout=0.5))
        assert time.monotonic() - started < 2
    finally:
        for conn in conns:
            conn.close()
        idle.close()


def test_idle_connections_are_closed(backend, monkeypatch):
    import app as chalice_app
    from chalicelib.runtime import local_http

    monkeypatch.setattr(local_http, "IDLE_TIMEOUT_SECONDS", 1)
    quick = local_http.create_front(chalice_app.app, "127.0.0.1", 0, max_body_bytes=1024)
    thread = threading.Thread(target=quick.run, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", quick.port), timeout=10) as conn:
            started = time.monotonic()
            conn.settimeout(10)
            assert conn.recv(10) == b""  # the server closed it
            assert time.monotonic() - started < 6
    finally:
        quick.close()
        thread.join(5)


def test_local_routes_answer_before_the_app(backend):
    import app as chalice_app
    from chalicelib.runtime.local_http import create_front

    served = create_front(
        chalice_app.app,
        "127.0.0.1",
        0,
        max_body_bytes=1024,
        local_routes={"/health": lambda: (503, {"x": 1})},
    )
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    try:
        answer = exchange(served.port, b"GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert status_of(answer) == 503
        assert json.loads(body_of(answer)) == {"x": 1}
    finally:
        served.close()
        thread.join(5)
