"""The delivery log on the SQLite store (a mixin of SqliteStore; see store/delivery_log.py)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import cursors
from .delivery_log import DeliveryRecord
from .records import BadCursor

DELIVERY_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id TEXT PRIMARY KEY, connector_id TEXT NOT NULL, received_ms INTEGER NOT NULL,
    status TEXT NOT NULL, data TEXT NOT NULL, chain TEXT NOT NULL, body TEXT, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_newest ON deliveries (received_ms DESC, delivery_id DESC);
CREATE INDEX IF NOT EXISTS deliveries_by_connector
    ON deliveries (connector_id, received_ms DESC, delivery_id DESC);
CREATE TABLE IF NOT EXISTS delivery_people (
    person_id TEXT NOT NULL, delivery_id TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (person_id, delivery_id)) WITHOUT ROWID;
"""
STATIC_FIELDS = ("method", "path", "http_status", "reason", "detail", "size", "content_type")


class SqliteDeliveryLog:
    clock: Callable[[], float]
    _write: Callable[..., int]
    _all: Callable[..., list[tuple[Any, ...]]]
    _one: Callable[..., tuple[Any, ...] | None]

    @property
    def _db(self) -> sqlite3.Connection:
        raise NotImplementedError  # SqliteStore's connection of this thread

    def _delivery_row(self, record: DeliveryRecord, ttl_days: int) -> tuple[Any, ...]:
        data = {name: getattr(record, name) for name in STATIC_FIELDS}
        data.update(received_at=record.received_at.isoformat(), headers=record.headers)
        return (
            record.delivery_id,
            record.connector_id,
            int(record.received_at.timestamp() * 1000),
            record.status,
            json.dumps(data, separators=(",", ":")),
            json.dumps(record.chain, separators=(",", ":")),
            record.body,
            self.clock() + ttl_days * 86400,
        )

    def put_deliveries(self, records: list[DeliveryRecord], ttl_days: int) -> None:
        self._db.executemany(
            "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [self._delivery_row(r, ttl_days) for r in records],
        )

    def record_delivery_step(self, record: DeliveryRecord, step: dict[str, Any], ttl_days: int) -> None:
        row = list(self._delivery_row(record, ttl_days))
        row[3], row[5] = step["status"], json.dumps([step], separators=(",", ":"))
        # one statement: create with this step, or append it (json_insert at the array's end)
        self._write(
            "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
            " status = excluded.status, chain = json_insert(chain, '$[#]', json(?)),"
            " body = coalesce(excluded.body, body)",
            (*row, json.dumps(step, separators=(",", ":"))),
        )

    def get_delivery(self, delivery_id: str) -> DeliveryRecord | None:
        row = self._one(
            "SELECT delivery_id, connector_id, status, data, chain, body FROM deliveries WHERE delivery_id = ?",
            (delivery_id,),
        )
        return _record_from(row) if row else None

    def deliveries_page(
        self, connector_id: str | None, statuses: tuple[str, ...] | None, limit: int, cursor: str | None
    ) -> tuple[list[DeliveryRecord], str | None]:
        scope = f"deliveries:{connector_id or '*'}:{','.join(statuses or ())}"
        position = cursors.decode(scope, cursor)
        if position is not None and not (
            isinstance(position, list)
            and len(position) == 2
            and isinstance(position[0], int)
            and isinstance(position[1], str)
        ):
            raise BadCursor("not a cursor this store handed out")
        where, args = [], []
        if connector_id:
            where.append("connector_id = ?")
            args.append(connector_id)
        if statuses:
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            args += list(statuses)
        if position is not None:
            where.append("(received_ms, delivery_id) < (?, ?)")
            args += position
        rows = self._all(
            "SELECT delivery_id, connector_id, status, data, chain, body, received_ms FROM deliveries"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY received_ms DESC, delivery_id DESC LIMIT ?",
            (*args, limit + 1),
        )
        page = rows[:limit]
        nxt = cursors.encode(scope, [page[-1][6], page[-1][0]]) if len(rows) > limit and page else None
        return [_record_from(r) for r in page], nxt

    def scrub_delivery_body(self, delivery_id: str) -> None:
        self._write("UPDATE deliveries SET body = NULL WHERE delivery_id = ?", (delivery_id,))

    def link_delivery_to_people(self, delivery_id: str, person_ids: list[str], ttl_days: int) -> None:
        expires = self.clock() + ttl_days * 86400
        self._db.executemany(
            "INSERT INTO delivery_people VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [(p, delivery_id, expires) for p in dict.fromkeys(person_ids)],
        )

    def scrub_deliveries_about(self, person_id: str) -> int:
        ids = [
            r[0]
            for r in self._all("SELECT delivery_id FROM delivery_people WHERE person_id = ?", (person_id,))
        ]
        for delivery_id in ids:
            self.scrub_delivery_body(delivery_id)
        self._write("DELETE FROM delivery_people WHERE person_id = ?", (person_id,))
        return len(ids)


def _record_from(row: tuple[Any, ...]) -> DeliveryRecord:
    delivery_id, connector_id, status, data, chain, body = row[:6]
    fields = json.loads(data)
    return DeliveryRecord(
        delivery_id=delivery_id,
        connector_id=connector_id,
        received_at=datetime.fromisoformat(fields.pop("received_at")),
        status=status,
        chain=json.loads(chain),
        body=body,
        **fields,
    )
