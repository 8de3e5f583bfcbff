"""Translate between Chalice requests/responses and the framework-free pipeline types."""

from __future__ import annotations

import hmac
import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from chalice import Response, UnauthorizedError
from chalice.app import Request

from .providers.base import InboundRequest, WebResponse

# Media types the webhook route accepts; anything else gets 415 (from Chalice, before our code).
WEBHOOK_CONTENT_TYPES = [
    "application/json",
    "application/vnd.surveymonkey.response.v1+json",  # SurveyMonkey's callbacks
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "application/xml",
    "text/xml",
    "application/soap+xml",
    "application/atom+xml",
    "text/plain",
]
# Bodies API Gateway must pass as bytes (base64) so signatures see exactly what was sent.
# text/xml is left out on purpose: Salesforce's SOAP (unsigned) is text/xml and its Ack reply
# must be text/xml too; Chalice refuses a binary-typed response unless the caller's Accept
# header names it, and Salesforce's Accept header is not documented.
BINARY_TYPES = [
    "multipart/form-data",
    "application/x-www-form-urlencoded",
    "application/xml",
    "application/soap+xml",
    "application/atom+xml",
]


def inbound_request(request: Request) -> InboundRequest:
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    query = {k: v for k, v in (request.query_params or {}).items()}
    path = (request.context or {}).get("path") or request.path
    scheme = headers.get("x-forwarded-proto", "http").split(",")[0].strip()
    url = f"{scheme}://{headers.get('host', 'localhost')}{path}"
    if query:
        url += "?" + urlencode(query)
    return InboundRequest(
        method=request.method,
        url=url,
        path=path,
        headers=headers,
        query=query,
        body=raw_body(request) if request.method == "POST" else b"",
    )


def raw_body(request: Request) -> bytes:
    """The body as sent, as bytes (Chalice declares `raw_body` as str or bytes)."""
    body = request.raw_body
    return body if isinstance(body, bytes) else (body or "").encode("utf-8")


def chalice_response(answer: WebResponse, method: str) -> Response:
    # handshakes echo caller-chosen text (hub.challenge): never let a browser sniff it as HTML
    headers: dict[str, str] = {"X-Content-Type-Options": "nosniff", **answer.headers}
    body = answer.body
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    elif isinstance(body, bytes):
        content_type = headers.get("Content-Type", "application/octet-stream").split(";")[0].strip().lower()
        if content_type not in BINARY_TYPES:  # Chalice sends text types as str, binary ones as bytes
            body = body.decode("utf-8")
    if method == "HEAD" or body is None:
        body = ""
    # a copy, typed as Chalice's headers (values str or list of str)
    return Response(body=body, status_code=answer.status, headers={**headers})


_resolver = None


def admin_auth_mode() -> str:
    """ "token" (default: a bearer token) or "iam" (API Gateway IAM authorization, on AWS)."""
    mode = os.environ.get("CHORUS_ADMIN_AUTH", "token").strip().lower()
    if mode not in ("token", "iam"):
        raise ValueError(f"CHORUS_ADMIN_AUTH must be token or iam, not {mode!r}")
    return mode


def require_admin(request: Request) -> None:
    """Bearer token check for the admin API (constant-time); 401 without a valid token.
    The token is a secret reference: CHORUS_ADMIN_TOKEN_REF, by default env:CHORUS_ADMIN_TOKEN.
    With CHORUS_ADMIN_AUTH=iam API Gateway has already checked the caller's SigV4 signature and
    IAM policy; the request must then carry the caller API Gateway put in its context (so a
    server without that authorizer, e.g. `chalice local`, does not fall open)."""
    global _resolver
    if admin_auth_mode() == "iam":
        identity = (request.context or {}).get("identity") or {}
        if not (identity.get("userArn") or identity.get("caller")):
            raise UnauthorizedError("IAM-authorized request expected (CHORUS_ADMIN_AUTH=iam)")
        return
    from .config.secrets import SecretResolver

    _resolver = _resolver or SecretResolver()
    ref = os.environ.get("CHORUS_ADMIN_TOKEN_REF", "env:CHORUS_ADMIN_TOKEN")
    try:
        expected = _resolver.resolve(ref)
    except Exception:
        raise UnauthorizedError("admin API is disabled: no admin token is configured") from None
    headers: Mapping[str, str] = request.headers or {}
    given = headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise UnauthorizedError("a valid bearer token is required")


def chorus_error_shape(response: Any) -> Any:
    """A Chalice error response rewritten to {"error": code, "message": text}, and every JSON
    error labelled application/json (Chalice sends a dict body without a Content-Type); others
    as they are."""
    body = getattr(response, "body", None)
    if getattr(response, "status_code", 200) < 400 or not isinstance(body, dict):
        return response
    if set(body) == {"Code", "Message"}:
        name = str(body["Code"])
        code = re.sub(r"(?<!^)(?=[A-Z])", "_", name.removesuffix("Error")).lower() or "error"
        message = str(body["Message"]).removeprefix(f"{name}: ")
        response.body = {"error": code, "message": message}
    if not any(k.lower() == "content-type" for k in response.headers):
        response.headers["Content-Type"] = "application/json"
    return response
