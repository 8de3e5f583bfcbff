"""Small pieces every CRM connector shares: the canonical form of a written value (so the
echo of Chorus's own write compares equal however the CRM formats it back), the one write flow
of every CRM sink (known records by id, the others matched before anything is created), the
name a created contact needs, one call per record for CRMs without a batch write, and create
claims for CRMs without an upsert."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
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
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


def canonical_map(properties: dict[str, Any]) -> dict[str, str]:
    """What a sink reports as `written`: the same canonical form parse() gives CRM values."""
    return {name: canonical(value) for name, value in properties.items()}


def mapped_properties(provider: Any, connector: Any) -> list[str]:
    """CRM property names Chorus writes for this connector, in mapping order."""
    return [prop for prop in provider.mapping(connector).values() if prop]


def mapping(provider: Any, config: Any) -> dict[str, str]:
    """Chorus field -> CRM property: the provider's defaults, overridden by the connector file's
    `mapping` (an empty name drops a field). `config` is a ConnectorConfig."""
    return {**provider.default_mapping, **config.mapping}


def split_by_crm_id(records: list, connector: Any) -> tuple[list, list]:
    """(records whose CRM record id is known: written by that id, the others: matched first)."""
    known = [r for r in records if r.crm_ids.get(connector.id)]
    return known, [r for r in records if not r.crm_ids.get(connector.id)]


def write_records(
    records: list,
    connector: Any,
    *,
    update: Callable[[list[tuple[Any, str]]], list],
    create: Callable[[list], list],
    match: Callable[[list], dict[str, str]] | None = None,
    no_email: str = "no email to match a contact on",
) -> list:
    """The write flow every CRM sink follows, so the CRM never gets a second contact:
    1. a record whose CRM id is known (returned by a write or notified) is updated by that id;
       the CRM's answer that it is gone (SinkResult.gone) goes back to the engine;
    2. the others are looked up by the CRM's own email field (`match`: person id -> CRM id,
       where the CRM's write cannot match by itself) and updated by the id found;
    3. only what nothing matched is created (`create`: an upsert on the email, or a create).
    `update` takes (record, crm id) pairs; both return one SinkResult per record."""
    from .base import SinkResult

    known, rest = split_by_crm_id(records, connector)
    results = [SinkResult(r.person_id, ok=False, error=no_email) for r in rest if not r.email]
    keyed = [r for r in rest if r.email]
    found = match(keyed) if match and keyed else {}
    targets = [(r, r.crm_ids[connector.id]) for r in known] + [
        (r, found[r.person_id]) for r in keyed if r.person_id in found
    ]
    if targets:
        for result in update(targets):
            if result.gone and result.person_id in found:  # matched a moment ago: look again later
                result.gone, result.retryable = False, True
            results.append(result)
    new = [r for r in keyed if r.person_id not in found]
    if new:
        results += create(new)
    return results


def write_each(
    records: list,
    connector: Any,
    *,
    update_one: Callable[[Any, str], Any],
    create_one: Callable[[Any], Any],
    match_one: Callable[[Any], str | None] | None = None,
    no_email: str = "no email to match a contact on",
) -> list:
    """write_records for CRMs without a batch write: one record at a time, so one record's
    failure (an UpstreamError) fails that record only. `update_one(record, crm id)`,
    `create_one(record)` and `match_one(record)` (the CRM id found for its email, or None)."""

    def one(record: Any) -> Any:
        [result] = write_records(
            [record],
            connector,
            update=lambda pairs: [update_one(r, crm_id) for r, crm_id in pairs],
            create=lambda new: [create_one(r) for r in new],
            match=(lambda keyed: {r.person_id: i for r in keyed if (i := match_one(r))})
            if match_one
            else None,
            no_email=no_email,
        )
        return result

    return upsert_each(records, one)


def with_name_on_create(
    records: list,
    write: Callable[[list, bool], dict[str, Any]],
    needs_name: Callable[[Any], bool],
) -> dict[str, Any]:
    """Upsert without a name first, so an existing contact's name is never overwritten; then
    again with one (`contact_name`) for the records the CRM says need it: a new contact's last
    name is mandatory (Salesforce LastName, Zoho Last_Name). `write(records, with_name)` answers
    person id -> SinkResult."""
    outcome = write(records, False)
    missing = [r for r in records if needs_name(outcome[r.person_id])]
    if missing:
        outcome.update(write(missing, True))
    return outcome


def contact_name(record: Any) -> str:
    """The last name a created contact gets: the display name, else the email's local part."""
    return (record.display_name or record.email.split("@")[0])[:80]


def upsert_each(records: list, upsert_one) -> list:
    """For CRMs without a batch write: one call per record; one record's failure does not fail
    the others (its SinkResult carries the error and whether it may be retried)."""
    from .base import SinkResult

    results = []
    for record in records:
        try:
            results.append(upsert_one(record))
        except UpstreamError as exc:
            results.append(
                SinkResult(
                    record.person_id,
                    ok=False,
                    error=str(exc),
                    retryable=exc.retryable,
                    retry_after=exc.retry_after if exc.retryable else None,
                )
            )
    return results


# Longer than a sync call can run (the sync function's 60 s timeout) and than a CRM's search
# index lags a create (seconds), shorter than the sync queue's redelivery (360 s).
CREATE_CLAIM_SECONDS = 120


@dataclass(frozen=True)
class Claim:
    taken: bool
    crm_id: str | None = None
    wait_seconds: float = 0.0  # held by a sync still creating (or dead): retry after this


class CreateClaims:
    """One create at a time per (connector, email), for a CRM without an upsert whose search
    lags its creates (Pipedrive): search, then `claim`, then create, then `record` the new id.

    `claim` answers a Claim: `taken`, the caller may create. Else `crm_id`: another sync created
    the record and recorded its id: update that one. Neither: another sync is creating it: defer
    the record as a retryable failure until `wait_seconds` (the holder's lease end) have passed.
    A claim is a lease: a sync that died between claim and record (before or after its create)
    holds the email for CREATE_CLAIM_SECONDS at most. The next attempt after that searches first,
    which by then finds a person that was created, so it updates it; otherwise it claims afresh
    and creates. No record waits longer than the lease plus one redelivery, and waiting for the
    lease end costs one receive, not one per visibility timeout (which could spend the queue's
    maxReceiveCount before the lease ran out and dead-letter the record).
    The store keeps a hash of connector and email, never the email; the claim expires a day later.
    """

    def __init__(
        self, store: Any, clock: Callable[[], datetime], lease_seconds: float = CREATE_CLAIM_SECONDS
    ):
        self._store, self._clock, self._lease = store, clock, lease_seconds

    def claim(self, connector_id: str, email: str) -> Claim:
        now = self._clock()
        taken, crm_id, until = self._store.claim_create(self._key(connector_id, email), now, self._lease)
        return Claim(taken, crm_id, 0.0 if taken or crm_id else max(1.0, until - now.timestamp()))

    def record(self, connector_id: str, email: str, crm_id: str) -> None:
        self._store.record_created(self._key(connector_id, email), crm_id)

    @staticmethod
    def _key(connector_id: str, email: str) -> str:
        return hashlib.sha256(f"{connector_id}\x1f{email.strip().lower()}".encode()).hexdigest()
