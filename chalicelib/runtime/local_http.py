"""The local hub's HTTP server: Chalice's own local server with two fixes for a webhook hub.

- Latency: Chalice's handler writes the status line and headers, then the body, as two
  socket writes on a keep-alive connection. With Nagle's algorithm on, the body waits for the
  client's delayed ACK of the headers: every answer took ~40 ms more than its work. The
  accepted sockets here set TCP_NODELAY, and headers and body leave in one write.
- Logs: the standard access line prints the request line with its query string, where
  Qualtrics, Jotform and Dynamics deliveries carry their URL token. The access line here
  names the method, the path without its query, the status and the time taken, as a
  structured record on the `chorus_hub.http` logger (INFO).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chalice.local import ChaliceRequestHandler, LocalDevServer

log = logging.getLogger("chorus_hub.http")


class HubRequestHandler(ChaliceRequestHandler):
    disable_nagle_algorithm = True  # socketserver sets TCP_NODELAY on the accepted socket

    def handle_one_request(self) -> None:
        self._started = time.perf_counter()
        super().handle_one_request()

    def end_headers(self) -> None:
        # keep the headers in the buffer: the body write below sends both at once
        self._headers_buffer.append(b"\r\n")

    def _send_http_response_with_body(self, code: int, headers: dict, body: Any) -> None:
        if not isinstance(body, bytes):
            body = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self._send_headers(headers)
        self.wfile.write(b"".join(self._headers_buffer) + (body if self.command != "HEAD" else b""))
        self._headers_buffer = []

    def _send_http_response_no_body(self, code: int, headers: dict) -> None:
        headers["Content-Length"] = "0"
        self.send_response(code)
        self._send_headers(headers)
        self.flush_headers()

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        took_ms = (time.perf_counter() - getattr(self, "_started", time.perf_counter())) * 1000
        log.info(
            "request",
            extra={
                "method": self.command,
                "path": (self.path or "").split("?", 1)[0],
                "status": int(code) if str(code).isdigit() else code,
                "ms": round(took_ms, 1),
            },
        )

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 (BaseHTTPRequestHandler's name)
        # the standard message quotes the raw request line (query string included)
        log.warning("malformed HTTP request", extra={"client": self.client_address[0]})


def create_server(app: Any, config: Any, host: str, port: int) -> LocalDevServer:
    """Chalice's LocalDevServer (same routing and event shape) with the handler above."""
    from chalice.local import CustomLocalChalice, LocalChalice

    if not isinstance(app, LocalChalice):  # what chalice.local.create_local_server does first
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, host, port, handler_cls=HubRequestHandler)
