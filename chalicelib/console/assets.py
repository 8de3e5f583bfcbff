"""The console's files, shipped in the package (chalicelib/console/static), served as they are.
No secret is ever rendered into them: the page asks for the admin token and keeps it in memory."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from chalice import Response

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# Scripts and styles from this origin only, no inline script, no framing, no referrer leaks.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _read(name: str) -> str | None:
    path = STATIC / name
    if path.suffix not in TYPES or path.parent != STATIC or not path.is_file():
        return None
    return path.read_text(encoding="utf-8")


def page(name: str) -> Response:
    text = _read(name) if "/" not in name and not name.startswith(".") else None
    if text is None:
        return Response(body={"error": "not_found", "message": f"no console file {name}"}, status_code=404)
    return Response(
        body=text, status_code=200, headers={"Content-Type": TYPES[Path(name).suffix], **SECURITY_HEADERS}
    )
