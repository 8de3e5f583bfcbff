"""The delivery log on the DynamoDB table (a mixin of DynamoStore).

Items:
  DLV#{delivery}  DLV   data (JSON: the request as logged), status, chain (list of JSON steps),
                        ttl; gsi1 DLVC#{connector} / {received_at}#{id} (a connector's, newest
                        first), gsi2 DELIVERIES / received epoch ms (everyone's, newest first)
  DLVP#{person}   {delivery}  a logged body is about this person (erasure scrubs it); ttl
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import cursors
from .delivery_log import DeliveryRecord
from .records import BadCursor

STATIC_FIELDS = ("connector_id", "method", "path", "http_status", "reason", "detail", "size", "content_type")
GSI1_KEYS = {"pk", "sk", "gsi1pk", "gsi1sk"}
GSI2_KEYS = {"pk", "sk", "gsi2pk", "gsi2sk"}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class DynamoDeliveryLog:
    _db: Any
    _table: str
    clock: Callable[[], float]

    def _delivery_item(self, record: DeliveryRecord, ttl_days: int) -> dict[str, Any]:
        data = {name: getattr(record, name) for name in STATIC_FIELDS}
        data.update(received_at=record.received_at.isoformat(), headers=record.headers)
        stamp = record.received_at.timestamp()
        return {
            "pk": _s(f"DLV#{record.delivery_id}"),
            "sk": _s("DLV"),
            "data": _s(json.dumps(data, separators=(",", ":"))),
            "gsi1pk": _s(f"DLVC#{record.connector_id}"),
            "gsi1sk": _s(f"{record.received_at.isoformat()}#{record.delivery_id}"),
            "gsi2pk": _s("DELIVERIES"),
            "gsi2sk": {"N": str(int(stamp * 1000))},
            "ttl": {"N": str(int(self.clock()) + ttl_days * 86400)},
        }

    def put_deliveries(self, records: list[DeliveryRecord], ttl_days: int) -> None:
        requests = []
        for record in records:
            item = self._delivery_item(record, ttl_days)
            item["status"] = _s(record.status)
            item["chain"] = {"L": [_s(json.dumps(step)) for step in record.chain]}
            if record.body is not None:
                item["body"] = _s(record.body)
            requests.append({"PutRequest": {"Item": item}})
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] | None = {self._table: requests[start : start + 25]}
            while pending:
                pending = self._db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None

    def record_delivery_step(self, record: DeliveryRecord, step: dict[str, Any], ttl_days: int) -> None:
        item = self._delivery_item(record, ttl_days)
        names = {"#d": "data", "#st": "status", "#ttl": "ttl"}
        values: dict[str, Any] = {
            ":d": item["data"],
            ":st": _s(step["status"]),
            ":step": {"L": [_s(json.dumps(step, separators=(",", ":")))]},
            ":empty": {"L": []},
            ":ttl": item["ttl"],
        }
        sets = ["#d = if_not_exists(#d, :d)", "#st = :st", "#ttl = if_not_exists(#ttl, :ttl)"]
        for name in ("gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"):
            values[f":{name}"] = item[name]
            sets.append(f"{name} = if_not_exists({name}, :{name})")
        sets.append("chain = list_append(if_not_exists(chain, :empty), :step)")
        if record.body is not None:
            values[":body"] = _s(record.body)
            sets.append("body = :body")
        self._db.update_item(
            TableName=self._table,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def get_delivery(self, delivery_id: str) -> DeliveryRecord | None:
        item = self._db.get_item(
            TableName=self._table, Key={"pk": _s(f"DLV#{delivery_id}"), "sk": _s("DLV")}, ConsistentRead=True
        ).get("Item")
        return _record_from(item) if item else None

    def deliveries_page(
        self, connector_id: str | None, statuses: tuple[str, ...] | None, limit: int, cursor: str | None
    ) -> tuple[list[DeliveryRecord], str | None]:
        scope = f"deliveries:{connector_id or '*'}:{','.join(statuses or ())}"
        kwargs: dict[str, Any] = {"TableName": self._table, "Limit": limit, "ScanIndexForward": False}
        if connector_id:
            kwargs.update(
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :p",
                ExpressionAttributeValues={":p": _s(f"DLVC#{connector_id}")},
            )
            key_names = GSI1_KEYS
        else:
            kwargs.update(
                IndexName="gsi2",
                KeyConditionExpression="gsi2pk = :p",
                ExpressionAttributeValues={":p": _s("DELIVERIES")},
            )
            key_names = GSI2_KEYS
        if statuses:
            placeholders = [f":s{i}" for i in range(len(statuses))]
            kwargs["FilterExpression"] = f"#st IN ({', '.join(placeholders)})"
            kwargs["ExpressionAttributeNames"] = {"#st": "status"}
            kwargs["ExpressionAttributeValues"].update({p: _s(s) for p, s in zip(placeholders, statuses)})
        start = cursors.decode(scope, cursor)
        if start is not None:
            kwargs["ExclusiveStartKey"] = _start_key(start, key_names)
        reply = self._db.query(**kwargs)
        return [_record_from(i) for i in reply["Items"]], cursors.encode(scope, reply.get("LastEvaluatedKey"))

    def scrub_delivery_body(self, delivery_id: str) -> None:
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"pk": _s(f"DLV#{delivery_id}"), "sk": _s("DLV")},
                UpdateExpression="REMOVE body",
                ConditionExpression="attribute_exists(pk)",  # expired: nothing to scrub
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            pass

    def link_delivery_to_people(self, delivery_id: str, person_ids: list[str], ttl_days: int) -> None:
        ttl = {"N": str(int(self.clock()) + ttl_days * 86400)}
        for person_id in dict.fromkeys(person_ids):
            self._db.put_item(
                TableName=self._table,
                Item={"pk": _s(f"DLVP#{person_id}"), "sk": _s(delivery_id), "ttl": ttl},
            )

    def scrub_deliveries_about(self, person_id: str) -> int:
        scrubbed = 0
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": _s(f"DLVP#{person_id}")},
        }
        while True:
            reply = self._db.query(**kwargs)
            for item in reply["Items"]:
                self.scrub_delivery_body(item["sk"]["S"])
                self._db.delete_item(TableName=self._table, Key={"pk": item["pk"], "sk": item["sk"]})
                scrubbed += 1
            if "LastEvaluatedKey" not in reply:
                return scrubbed
            kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]


def _record_from(item: dict[str, Any]) -> DeliveryRecord:
    data = json.loads(item["data"]["S"])
    return DeliveryRecord(
        delivery_id=item["pk"]["S"][4:],
        received_at=datetime.fromisoformat(data.pop("received_at")),
        status=item.get("status", {}).get("S", "queued"),
        chain=[json.loads(step["S"]) for step in item.get("chain", {}).get("L", [])],
        body=item.get("body", {}).get("S"),
        **data,
    )


def _start_key(position: Any, attributes: set[str]) -> dict[str, Any]:
    """A LastEvaluatedKey given back: only this index's key attributes, each an S or N value."""
    ok = (
        isinstance(position, dict)
        and set(position) <= attributes
        and all(
            isinstance(v, dict)
            and len(v) == 1
            and next(iter(v)) in ("S", "N")
            and isinstance(next(iter(v.values())), str)
            for v in position.values()
        )
    )
    if not ok:
        raise BadCursor("not a cursor this store handed out")
    return position
