"""The sink role: a provider the sync engine writes advocate records to. The engine coalesces,
skips unchanged records, chunks to `batch_max` within `rate_limit`, and calls `upsert`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..config.connector import Connector
from ..schema import AdvocateRecord
from .base import Provider, SinkResult
from .http import Throttle

if TYPE_CHECKING:
    from .crm_common import CreateClaims
    from .oauth import TokenRequest


class Sink(Provider):
    """Base of every sink. Override only what is special about yours."""

    batch_max: ClassVar[int] = 1
    # requests per window of seconds, per CRM account (shared by all workers); a connector file
    # can lower it with `rate_limit: {requests: N, per_seconds: S}`
    rate_limit: ClassVar[tuple[int, float]] = (10, 1.0)
    # how the CRM says "slow down" (a 429 and its Retry-After unless the provider knows more)
    throttle: ClassVar[Throttle] = Throttle()
    # seconds before each retry of a failed delivery (a new queue message per step, so the
    # horizon is not bound by the queue's receive limit); empty: the queue's redelivery decides
    retry_schedule: ClassVar[tuple[float, ...]] = ()
    # Chorus field -> CRM property; a connector file's `mapping` overrides it
    default_mapping: ClassVar[dict[str, str]] = {}

    def upsert(
        self,
        records: list[AdvocateRecord],
        connector: Connector,
        http: Any,
        claims: CreateClaims | None = None,
    ) -> list[SinkResult]:
        """Write the records (at most `batch_max`); one SinkResult per record. Raise UpstreamError
        only when the whole call failed. `claims` (always given by the engine) is for a CRM without an
        upsert (search, then create): two syncs of one new contact never create it twice."""
        raise NotImplementedError(f"{self.name} declares no upsert()")

    def grant(self, connector: Connector) -> TokenRequest | None:
        """The OAuth token request this sink authenticates with; None for a static token."""
        return None

    def mapping(self, connector: Connector) -> dict[str, str]:
        """Chorus field -> CRM property: the default mapping, overridden by the connector file's
        (an empty property name drops the field)."""
        from .crm_common import mapping

        return mapping(self, connector.config)

    def properties_for(self, record: AdvocateRecord, connector: Connector) -> dict[str, Any]:
        """CRM property -> value for one record, per `mapping`."""
        values = record.model_dump(mode="json")
        return {
            prop: values[name]
            for name, prop in self.mapping(connector).items()
            if prop and values.get(name) is not None
        }

    def properties_for_all_fields(self, connector: Connector) -> list[str]:
        return [prop for prop in self.mapping(connector).values() if prop]

    def setup(self, connector: Connector, http: Any) -> list[str]:
        """`chorus crm setup`: create what the CRM needs (custom fields) where its API allows it,
        and return what was done or the manual steps where it does not."""
        fields = ", ".join(sorted(set(self.properties_for_all_fields(connector))))
        return [f"{self.name}: no automatic set-up; create these fields in the CRM if missing: {fields}"]
