"""multipart/form-data bodies (Jotform and other form tools) parsed with the stdlib email parser.

Only text fields are returned; file parts are skipped (Chorus keeps answers, not uploads).
"""
from __future__ import annotations

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
    if "boundary=" not in (content_type_header or ""):
        raise MalformedPayload("multipart/form-data without a boundary in Content-Type")
    head = f"Content-Type: {content_type_header}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise MalformedPayload("body is not well-formed multipart/form-data")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name or part.get_filename():
            continue
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "utf-8"
        try:
            fields[str(name)] = payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            raise MalformedPayload(f"field '{name}' is not valid {charset}") from None
    return fields
