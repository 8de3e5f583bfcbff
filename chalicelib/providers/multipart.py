"""multipart/form-data bodies (Jotform and other form tools) parsed with the stdlib email parser.

Only text fields are returned; file parts are skipped (Chorus keeps answers, not uploads).
"""

from __future__ import annotations

import re
from email.parser import BytesParser
from email.policy import HTTP

from ..errors import MalformedPayload


def parse_multipart(body: bytes, content_type_header: str) -> dict[str, str]:
    """Field name -> text value of a multipart/form-data body. The boundary comes from the
    Content-Type header exactly as received. A later field with the same name wins.

    >>> parse_multipart(b'--b\\r\\nContent-Disposition: form-data; name="a"\\r\\n\\r\\n1\\r\\n--b--\\r\\n',
    ...                 'multipart/form-data; boundary=b')
    {'a': '1'}
    """
    _require_boundary(content_type_header)
    simple = _simple_form_data(body, content_type_header)
    if simple is not None:
        return simple
    return _email_parser_fields(body, content_type_header)


def multipart_field_names(body: bytes, content_type_header: str) -> set[str]:
    """The text field names of a multipart/form-data body, judged well-formed exactly as by
    parse_multipart, without copying every value out: what ingest needs to check a delivery."""
    _require_boundary(content_type_header)
    heads = _simple_part_heads(body, content_type_header)
    if heads is not None:
        return {head[1] for head in heads if head[1]}
    return set(_email_parser_fields(body, content_type_header))


def _require_boundary(content_type_header: str) -> None:
    if "boundary=" not in (content_type_header or ""):
        raise MalformedPayload("multipart/form-data without a boundary in Content-Type")


def _email_parser_fields(body: bytes, content_type_header: str) -> dict[str, str]:
    head = f"Content-Type: {content_type_header}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise MalformedPayload("body is not well-formed multipart/form-data")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name or part.get_filename():
            continue
        payload = part.get_payload(decode=True)  # bytes; None for a nested multipart
        if not isinstance(payload, bytes):
            payload = b""
        charset = part.get_content_charset() or "utf-8"
        try:
            fields[str(name)] = payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            raise MalformedPayload(f"field '{name}' is not valid {charset}") from None
    return fields


_BOUNDARY = re.compile(
    r';\s*boundary=(?:"([0-9A-Za-z\'()+_,./:=?-]{1,70})"|([0-9A-Za-z\'()+_,./:=?-]{1,70}))\s*(?:;|$)'
)
# One part's head, the blank line included. Header names are case-insensitive; ASCII, so that
# the str pattern does not also take Unicode look-alikes (the long s, the Kelvin sign) for letters.
# The case-sensitive twin is tried first: it takes the spelling senders use at half the cost.
_PART_HEAD = (
    r'Content-Disposition:[ \t]*form-data;[ \t]*name="([\x20\x21\x23-\x5b\x5d-\x7e]*)"[ \t]*'
    r'(?:\r\nContent-Type:[ \t]*text/plain(?:;[ \t]*charset="?utf-8"?)?[ \t]*)?\r\n\r\n'
)
_PLAIN_PART_HEAD = re.compile(_PART_HEAD, re.ASCII)
_ANY_CASE_PART_HEAD = re.compile(_PART_HEAD, re.ASCII | re.IGNORECASE)


def _simple_form_data(body: bytes, content_type_header: str) -> dict[str, str] | None:
    """The common case (CRLF parts, plain ASCII names, UTF-8 text, no files) without the
    email parser, which costs ~10 ms for a 20-field form; None for anything else, which
    then takes the email parser's path. Both paths give the same fields (tested)."""
    heads = _simple_part_heads(body, content_type_header)
    if heads is None:
        return None
    return {head[1]: head.string[head.end() :] for head in heads if head[1]}


def _simple_part_heads(body: bytes, content_type_header: str) -> list[re.Match[str]] | None:
    """One head match per part of a body in the common case (its value follows the match in
    the part), or None. The body is decoded and searched for the delimiter once."""
    found = _BOUNDARY.search(content_type_header)
    if found is None:
        return None
    delimiter = "--" + (found.group(1) or found.group(2))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    closing = text.rfind("\r\n" + delimiter + "--")
    if (
        not text.startswith(delimiter + "\r\n")
        or closing < 0
        or text[closing + len(delimiter) + 4 :] not in ("", "\r\n")
    ):
        return None
    parts = text[len(delimiter) + 2 : closing].split("\r\n" + delimiter + "\r\n")
    if text.count(delimiter) != len(parts) + 1:  # the delimiter inside a part: let the email parser judge
        return None
    for pattern in (_PLAIN_PART_HEAD, _ANY_CASE_PART_HEAD):
        heads = [head for head in map(pattern.match, parts) if head is not None]
        if len(heads) == len(parts):
            return heads
    return None
