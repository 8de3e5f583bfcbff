"""Canonical permalinks: one post's many URLs reduced to one cross-connector key.

`https://WWW.Example.com/post/?utm_source=x&b=2&a=1#top` and the Google Alerts wrapper
`https://www.google.com/url?url=https://example.com/post?a=1%26b=2` both become
`https://example.com/post?a=1&b=2`: scheme and host lower-cased, `www.` and default ports
dropped, tracking parameters and the fragment dropped, the other parameters sorted.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKING_PREFIXES = ("utm_", "mc_", "hsa_", "pk_", "_hs")
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "igshid",
        "igsh",
        "twclid",
        "ttclid",
        "li_fat_id",
        "mkt_tok",
        "ref_src",
        "ref_url",
        "si",
        "share_id",
        "cmpid",
        "ocid",
    }
)
# Redirect wrappers: host -> (path, the parameter holding the real address)
WRAPPERS = {"google.com": ("/url", ("url", "q")), "news.google.com": ("/url", ("url",))}
DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_permalink(url: str | None) -> str | None:
    """The canonical form of a web address, or None when it is not an http(s) URL."""
    if not url or not isinstance(url, str):
        return None
    for _ in range(3):  # a wrapper inside a wrapper, at most a few deep
        unwrapped = _unwrap(url.strip())
        if unwrapped is None:
            break
        url = unwrapped
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    host = host.removeprefix("www.")
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    )
    # http and https name one page: the key says https
    return urlunsplit(("https", netloc, path, urlencode(query), ""))


def _unwrap(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower().removeprefix("www.")
    wrapper = WRAPPERS.get(host)
    if wrapper is None or parts.path != wrapper[0]:
        return None
    params = dict(parse_qsl(parts.query))
    target = next((params[name] for name in wrapper[1] if params.get(name)), None)
    return target if target and target.lower().startswith(("http://", "https://")) else None
