"""File sink: advocate records as JSON lines, for the local demo and for audits.

Idempotent like a CRM: the sync engine only calls it for records that changed.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ..schema import AdvocateRecord
from .base import SinkResult
from .sink import Sink

_lock = threading.Lock()


class FileSinkOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = ".chorus/crm-sync.jsonl"


class FileSinkProvider(Sink):
    name = "file"
    Options = FileSinkOptions
    batch_max = 100
    # a local file has no API budget to spare: the default (10 calls/s) capped the local hub's
    # drain at ~100 interactions/s (10 records per sync batch)
    rate_limit = (100_000, 1.0)
    default_mapping = {
        field: field
        for field in AdvocateRecord.model_fields
        if field not in ("person_id", "crm_ids", "changed_at")
    }

    def upsert(self, records, connector, http, claims=None) -> list[SinkResult]:
        path = Path(connector.options.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        results = []
        with _lock, path.open("a", encoding="utf-8") as out:
            for record in records:
                properties = self.properties_for(record, connector)
                out.write(json.dumps({"person_id": record.person_id, "properties": properties}) + "\n")
                results.append(
                    SinkResult(
                        record.person_id,
                        ok=True,
                        crm_id=None,  # a file has no record ids
                        written=properties,
                    )
                )
        return results
