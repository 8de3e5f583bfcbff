"""The local hub's HTTP front: waitress (a maintained WSGI server) serving the Chalice app.

Why not Chalice's dev server: it is http.server underneath (listen backlog 5, no timeouts, the
whole body read before any size check, `Expect: 100-continue` answered only with the final
answer, no answer at all to a bad Content-Length). waitress parses HTTP/1.1 itself and gives
what a webhook hub needs: a listen backlog (1024), `100 Continue` as soon as the headers are in,
400 for a bad, negative or conflicting Content-Length, chunked bodies, 413 from Content-Length
before a byte of the body is read, 431 for a header block above its hard limit, idle
connections closed after IDLE_TIMEOUT_SECONDS, a fixed pool of handler threads.

The adapter below turns a WSGI request into what Chalice's LocalGateway takes (the same routing
and Lambda event shape as `chalice local` and API Gateway) and adds, before the app runs:
- 414 for a request target over MAX_URL_BYTES, 431 for more than MAX_HEADER_COUNT headers or
  more than MAX_HEADER_BYTES of them;
- 404 in the webhook error shape for a path no route has (API Gateway's 403 "Missing
  Authentication Token" reads like an auth problem and echoes the Authorization header);
- routes answered by the local hub itself (`/health`, which reports the supervised processes).
The access log line names the method, the path without its query (where URL tokens travel),
the status and the time taken, on the `chorus_hub.http` logger (INFO).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("chorus_hub.http")

MAX_URL_BYTES = 16 * 1024
MAX_HEADER_COUNT = 100
MAX_HEADER_BYTES = 64 * 1024
HARD_HEADER_BYTES = 256 * 1024  # waitress's own limit (431), which bounds what one request buffers
IDLE_TIMEOUT_SECONDS = 30
LISTEN_BACKLOG = 1024
HANDLER_THREADS = 8
CONNECTION_LIMIT = 1000

# A local route: () -> (status, JSON-able body)
LocalRoute = Callable[[], tuple[int, Any]]
StartResponse = Callable[..., Any]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


class ChaliceWsgi:
    """A WSGI application that runs a Chalice app through LocalGateway."""

    def __init__(self, app: Any, config: Any, local_routes: dict[str, LocalRoute] | None = None):
        from chalice.local import CustomLocalChalice, LocalChalice, LocalGateway, RouteMatcher

        if not isinstance(app, LocalChalice):  # what chalice.local.create_local_server does first
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        self._gateway = LocalGateway(app, config)  # once, not per request as the dev server does
        self._routes = RouteMatcher(list(app.routes))
        self._local = dict(local_routes or {})

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        method = environ["REQUEST_METHOD"]
        target = environ.get("REQUEST_URI") or _target(environ)
        path = environ.get("PATH_INFO") or "/"
        status, headers, body = self._answer(environ, method, target, path)
        reason = _REASONS.get(status) or _http_reason(status)
        out_headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(f"{status} {reason}", [*out_headers, ("Content-Length", str(len(body)))])
        log.info(
            "request",
            extra={
                "method": method,
                "path": path,
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return [b"" if method == "HEAD" else body]

    def _answer(
        self, environ: dict[str, Any], method: str, target: str, path: str
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        if len(target.encode("latin-1", "replace")) > MAX_URL_BYTES:
            return _error(414, "uri_too_long", f"the request target is over {MAX_URL_BYTES} bytes")
        headers = _headers(environ)
        if len(headers) > MAX_HEADER_COUNT:
            return _error(431, "too_many_headers", f"more than {MAX_HEADER_COUNT} header fields")
        if sum(len(k) + len(v) + 4 for k, v in headers.items()) > MAX_HEADER_BYTES:
            return _error(431, "headers_too_large", f"the header fields are over {MAX_HEADER_BYTES} bytes")
        local = self._local.get(path)
        if local is not None and method in ("GET", "HEAD"):
            status, document = local()
            return status, [("Content-Type", "application/json")], json.dumps(document).encode()
        try:
            self._routes.match_route(target)
        except ValueError:
            return _error(404, "not_found", "no such route")
        body = environ["wsgi.input"].read() if method not in ("GET", "HEAD") else b""
        from chalice.local import LocalGatewayException

        try:
            response = self._gateway.handle_request(
                method=method, path=target, headers=headers, body=body or None
            )
        except LocalGatewayException as exc:
            return exc.CODE, list(exc.headers.items()), exc.body or b""
        out: list[tuple[str, str]] = [(k, str(v)) for k, v in response["headers"].items()]
        for name, values in (response.get("multiValueHeaders") or {}).items():
            out += [(name, str(v)) for v in values]
        payload = response.get("body")
        if response.get("isBase64Encoded"):
            payload = base64.b64decode(payload or "")
        elif payload is None:
            payload = b""
        elif isinstance(payload, str):
            payload = payload.encode("utf-8")
        if not any(k.lower() == "content-type" for k, _ in out):
            out.append(("Content-Type", "application/json"))
        return int(response["statusCode"]), out, payload


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


def _target(environ: dict[str, Any]) -> str:
    query = environ.get("QUERY_STRING")
    return (environ.get("PATH_INFO") or "/") + (f"?{query}" if query else "")


def _error(status: int, reason: str, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    body = json.dumps({"error": reason, "message": message}).encode()
    return status, [("Content-Type", "application/json")], body


def _http_reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Front:
    """The listening server. `run()` serves until `close()` (from another thread) or Ctrl-C."""

    def __init__(self, wsgi: ChaliceWsgi, host: str, port: int, max_body_bytes: int):
        import waitress

        logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" in every burst
        self._server = waitress.create_server(
            wsgi,
            host=host,
            port=port,
            backlog=LISTEN_BACKLOG,
            threads=HANDLER_THREADS,
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=IDLE_TIMEOUT_SECONDS,
            cleanup_interval=max(1, IDLE_TIMEOUT_SECONDS // 3),
            # waitress refuses Content-Length >= this with 413 before reading the body
            max_request_body_size=max_body_bytes + 1,
            max_request_header_size=HARD_HEADER_BYTES,
            ident="chorus",
            # X-Forwarded-Proto reaches the app: behind a TLS proxy, signatures over the URL
            # (HubSpot v3) are checked against the https:// URL the provider signed
            clear_untrusted_proxy_headers=False,
        )  # waitress sets TCP_NODELAY on accepted sockets: an answer never waits for a delayed ACK
        self.port: int = self._server.effective_port
        self._closed = threading.Event()
        self._closing = threading.Event()

    def run(self) -> None:
        try:
            self._server.run()
        except OSError:  # close() shut a socket the loop was selecting on (EBADF): it is done
            if not self._closing.is_set():
                raise
        finally:
            self._closed.set()

    def close(self) -> None:
        """Stop listening and drop open connections; run() then returns."""
        self._closing.set()
        for dispatcher in list(self._server._map.values()):
            try:
                dispatcher.close()
            except OSError:
                pass
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        self._closed.wait(5)


def create_front(
    app: Any, host: str, port: int, max_body_bytes: int, local_routes: dict[str, LocalRoute] | None = None
) -> Front:
    from chalice.config import Config

    return Front(ChaliceWsgi(app, Config.create(app_name="chorus"), local_routes), host, port, max_body_bytes)
