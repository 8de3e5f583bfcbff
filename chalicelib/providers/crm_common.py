"""Small pieces every CRM connector shares: the canonical form of a written value (so the
echo of Chorus's own write compares equal however the CRM formats it back), the static
secret compare used by CRMs that do not sign, and the token request a connector's
secrets call for."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..errors import UpstreamError


def canonical(value: Any) -> str:
    """One text form per value: 72, 72.0 and "72.0" -> "72"; ISO times -> second precision UTC."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    if text.lower() in ("true", "false"):
        return text.lower()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if number == number and abs(number) != float("inf"):  # not NaN / inf
            return str(int(number)) if number.is_integer() else repr(round(number, 6))
    if len(text) >= 19 and text[4:5] == "-" and text[10:11] in ("T", " "):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
        except ValueError:
            return text
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


def canonical_map(properties: dict[str, Any]) -> dict[str, str]:
    """What a sink reports as `written`: the same canonical form parse() gives CRM values."""
    return {name: canonical(value) for name, value in properties.items()}


def mapped_properties(provider: Any, connector: Any) -> list[str]:
    """CRM property names Chorus writes for this connector, in mapping order."""
    mapping = {**provider.default_mapping, **connector.config.mapping}
    return [prop for prop in mapping.values() if prop]


def upsert_each(records: list, upsert_one) -> list:
    """For CRMs without a batch write: one call per record; one record's failure does not fail
    the others (its SinkResult carries the error and whether it may be retried)."""
    from .base import SinkResult
    results = []
    for record in records:
        try:
            results.append(upsert_one(record))
        except UpstreamError as exc:
            results.append(SinkResult(record.person_id, ok=False, error=str(exc), retryable=exc.retryable))
    return results
