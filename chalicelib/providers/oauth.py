"""OAuth 2.0 for CRM sinks: get a token, cache it per connector, refresh once on a 401.

Grants (RFC 6749 / RFC 7523), each a pure function returning the token request:
- `client_credentials`: Salesforce (My Domain), Dynamics / Entra ID (with `scope`).
- `refresh_token_grant`: Zoho (accounts server of the data centre).
- `jwt_bearer`: Salesforce, an RS256 assertion signed with the connected app's private key
  (needs the `cryptography` package, imported only when this grant is used). `sign_rs256` and
  `sign_es256` also sign the JWTs of Google service accounts and the App Store Connect API.
A connector with only `secrets.access_token` uses that token as is (no refresh possible).
A grant may authenticate the client with HTTP Basic instead of the form (`basic`, RFC 6749
2.3.1: Reddit takes no other way).

`authorized_call` sends one API request with the cached token; on a 401 it drops the token,
fetches a new one and retries once. Tokens never reach a log line or an error message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import UpstreamError
from .http import call_api, json_object, unmetered

EXPIRY_MARGIN_SECONDS = 60
TOKEN_THROTTLE_SECONDS = 60.0  # a refused token request for rate: try again after this
DEFAULT_LIFETIME_SECONDS = 900  # Salesforce's client-credentials answer carries no expires_in


@dataclass(frozen=True)
class TokenRequest:
    """Where and what to POST (form-encoded) to get an access token. `static` skips the POST;
    `signed` adds form fields made only when a token is fetched (a JWT assertion: loading a
    private key costs more than the cached token's look-up); `basic` the (client id, secret) sent
    as HTTP Basic authentication."""

    token_url: str
    form: dict[str, str] = field(default_factory=dict)
    static: str | None = None
    signed: Callable[[], dict[str, str]] | None = None
    basic: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def cache_key(self) -> str:
        client = self.form.get("client_id") or (self.basic[0] if self.basic else "")
        return f"{self.token_url}|{client}|{self.form.get('grant_type', '')}"


@dataclass
class Token:
    access_token: str
    expires_at: float
    extras: dict[str, Any] = field(default_factory=dict)  # instance_url, api_domain, ...

    def __repr__(self) -> str:  # never shows the token
        return f"Token(expires_at={self.expires_at:.0f}, extras={sorted(self.extras)})"


_cache: dict[tuple[str, str], Token] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def client_credentials(
    token_url: str, client_id: str, client_secret: str, scope: str | None = None, *, basic: bool = False
) -> TokenRequest:
    """The client credentials grant; `basic`: the client authenticates with HTTP Basic, not in
    the form."""
    form = {"grant_type": "client_credentials"}
    if not basic:
        form.update(client_id=client_id, client_secret=client_secret)
    if scope:
        form["scope"] = scope
    return TokenRequest(token_url, form, basic=(client_id, client_secret) if basic else None)


def refresh_token_grant(
    token_url: str, client_id: str, client_secret: str, refresh_token: str
) -> TokenRequest:
    return TokenRequest(
        token_url,
        {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        },
    )


def jwt_bearer(
    token_url: str,
    client_id: str,
    subject: str,
    audience: str,
    private_key_pem: str,
    now: float | None = None,
    lifetime: int = 180,
) -> TokenRequest:
    """RFC 7523 assertion: iss=client id, sub=user name, aud=login URL, exp within 3 minutes."""
    claims = {"iss": client_id, "sub": subject, "aud": audience, "exp": int((now or time.time()) + lifetime)}
    return TokenRequest(
        token_url,
        {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": sign_rs256(claims, private_key_pem),
            "client_id": client_id,
        },
    )


def sign_rs256(claims: dict[str, Any], private_key_pem: str) -> str:
    """A JWT signed RS256 (RSASSA-PKCS1-v1_5 with SHA-256) with an RSA PEM key."""

    def sign(key: Any, message: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("RS256 needs an RSA private key")
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())

    return _signed_jwt({"alg": "RS256", "typ": "JWT"}, claims, private_key_pem, sign, "RSA")


def sign_es256(claims: dict[str, Any], private_key_pem: str, key_id: str) -> str:
    """A JWT signed ES256 (ECDSA P-256 with SHA-256, the signature as r || s) with an EC PEM key
    (an App Store Connect `.p8` file)."""

    def sign(key: Any, message: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError("ES256 needs an EC private key")
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return _signed_jwt({"alg": "ES256", "kid": key_id, "typ": "JWT"}, claims, private_key_pem, sign, "EC")


def _signed_jwt(
    header: dict[str, Any],
    claims: dict[str, Any],
    private_key_pem: str,
    sign: Callable[[Any, bytes], bytes],
    kind: str,
) -> str:
    """header.claims.signature, each base64url; `cryptography` is imported only here, when a
    JWT grant is used (the Lambda package holds it only when the deployment adds it)."""
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:  # pragma: no cover - depends on the deployment package
        raise UpstreamError(
            "JWT signing needs the 'cryptography' package in the deployment", retryable=False
        ) from None

    def b64url(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        signature = sign(key, signing_input.encode())
    except (ValueError, TypeError):
        raise UpstreamError(f"private_key is not a usable {kind} PEM key", retryable=False) from None
    return signing_input + "." + b64url(signature)


class SharedTokens(Protocol):
    """The store's token table (get_token / put_token): one cache for every worker."""

    def get_token(self, key: str) -> tuple[str, float] | None: ...
    def put_token(self, key: str, sealed: str, expires_at: float) -> None: ...


def get_token(
    connector_id: str,
    http: Any,
    request: TokenRequest,
    *,
    force: bool = False,
    send: Callable[..., Any] | None = None,
) -> Token:
    """The cached token for this connector and grant, fetched when missing, expired or forced.

    `send(url, data=, headers=, [auth=])` POSTs the token request: by default `call_api`
    (retries in the call) on the session under any meter; a listener sends it as its own calls
    (listener.access_token: charged to the source's budget, a 429 backing the source off).

    With a shared cache (`http.tokens`, the store's, given by the sync engine and the ingest
    worker) a token one worker fetched serves every other: Zoho allows 10 tokens per refresh
    token in 10 minutes, and a 16th active one invalidates the oldest. The stored form is sealed
    with the grant's own secret, so the table alone does not yield a usable token."""
    if request.static is not None:
        return Token(request.static, float("inf"))
    key = (connector_id, request.cache_key)
    with _lock:
        cached = _cache.get(key)
    if cached and not force and cached.expires_at > time.time():
        return cached
    shared, seal_key = getattr(http, "tokens", None), _seal_key(request)
    shared_key = hashlib.sha256(f"{connector_id}|{request.cache_key}".encode()).hexdigest()
    if shared is not None and seal_key and not force:
        found = shared.get_token(shared_key)
        token = _unseal(found[0], seal_key) if found and found[1] > time.time() else None
        if token is not None:
            with _lock:
                _cache[key] = token
            return token
    if send is None:  # a token request is not a CRM API call: not charged to its budget

        def send(url: str, **kwargs: Any) -> Any:
            return call_api(unmetered(http), "POST", url, **kwargs)

    response = send(
        request.token_url,
        data={**request.form, **(request.signed() if request.signed else {})},
        headers={"Accept": "application/json"},
        **({"auth": request.basic} if request.basic else {}),
    )
    body = json_object(response)
    if "accessToken" in body:  # HubSpot's newer token answers are camelCase
        body = {_snake(k): v for k, v in body.items()}
    if response.status_code >= 400 or not body.get("access_token"):
        # OAuth errors are {"error", "error_description"}; Zoho answers 200 with {"error": ...}
        reason = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
        throttled = response.status_code == 429 or "too many requests" in str(reason).lower()
        raise UpstreamError(  # a throttle (Zoho: 10 tokens / 10 min, "Access Denied") passes
            f"token request to {_host(request.token_url)} rejected: {reason}",
            retryable=throttled,
            retry_after=TOKEN_THROTTLE_SECONDS if throttled else None,
            status=response.status_code,
        )
    lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME_SECONDS)
    token = Token(
        str(body["access_token"]),
        time.time() + max(lifetime - EXPIRY_MARGIN_SECONDS, 30),
        {k: v for k, v in body.items() if k not in ("access_token", "refresh_token", "id_token")},
    )
    with _lock:
        _cache[key] = token
    if shared is not None and seal_key:
        shared.put_token(shared_key, _seal(token, seal_key), token.expires_at)
    return token


def _seal_key(request: TokenRequest) -> bytes | None:
    """Key material only the grant's holder has (its client secret or refresh token); a JWT grant
    has neither in its form, and then the token is cached per process only."""
    secret = (
        request.form.get("client_secret")
        or request.form.get("refresh_token")
        or (request.basic[1] if request.basic else None)
    )
    return hashlib.sha256(b"chorus-token-seal\x00" + secret.encode()).digest() if secret else None


def _seal(token: Token, key: bytes) -> str:
    """Encrypt-then-MAC with HMAC-SHA256 as the PRF: a keystream from (key, nonce, counter), a tag
    over nonce and ciphertext."""
    plain = json.dumps({"t": token.access_token, "x": token.extras, "e": token.expires_at}).encode()
    nonce = os.urandom(16)
    cipher = bytes(a ^ b for a, b in zip(plain, _keystream(key, nonce, len(plain))))
    tag = hmac.new(key, b"tag" + nonce + cipher, hashlib.sha256).digest()
    return base64.b64encode(nonce + tag + cipher).decode("ascii")


def _unseal(sealed: str, key: bytes) -> Token | None:
    try:
        raw = base64.b64decode(sealed)
    except ValueError:
        return None
    nonce, tag, cipher = raw[:16], raw[16:48], raw[48:]
    if not hmac.compare_digest(tag, hmac.new(key, b"tag" + nonce + cipher, hashlib.sha256).digest()):
        return None  # another secret sealed it (rotated credentials): fetch a new one
    body = json.loads(bytes(a ^ b for a, b in zip(cipher, _keystream(key, nonce, len(cipher)))))
    return Token(str(body["t"]), float(body["e"]), dict(body["x"]))


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (
        hmac.new(key, b"ks" + nonce + n.to_bytes(4, "big"), hashlib.sha256).digest()
        for n in range(length // 32 + 1)
    )
    return b"".join(blocks)[:length]


def authorized_call(
    http: Any,
    method: str,
    url: str | Callable[[Token], str],
    *,
    connector_id: str,
    grant: TokenRequest,
    scheme: str = "Bearer",
    **kwargs: Any,
) -> Any:
    """One API call with `Authorization: <scheme> <token>`; a 401 refreshes the token once.

    `url` may be built from the token (Salesforce `instance_url`, Zoho `api_domain`).
    Retries for 429/5xx/timeouts happen in call_api; a 401 after the refresh is returned."""
    headers = dict(kwargs.pop("headers", None) or {})
    response = None
    for attempt in range(2):
        token = get_token(connector_id, http, grant, force=attempt > 0)
        target = url(token) if callable(url) else url
        headers["Authorization"] = f"{scheme} {token.access_token}"
        response = call_api(http, method, target, headers=headers, **kwargs)
        if response.status_code != 401 or grant.static is not None:
            return response
        with _lock:
            _cache.pop((connector_id, grant.cache_key), None)
    return response


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc
