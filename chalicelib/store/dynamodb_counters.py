"""Time-bucketed counters and voices on the DynamoDB table (a mixin of DynamoStore).

Items:
  CNT#{scope}               {bucket}#{key}  counters (numbers), ttl: one Query reads a range
  VOICE#{scope}#{bucket}    {person}        mentions, reach, score, channels (a string set), ttl;
                                            gsi1 VREACH#{scope}#{bucket} / zero-padded reach,
                                            gsi2 VSCORE#{scope}#{bucket} / score (top voices)
  C#{connector}             STATS           per-reason counters (also in dynamodb.py)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .counters import Voice


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float | int) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


class DynamoCounters:
    _db: Any
    _table: str
    clock: Callable[[], float]

    def _add(self, key: dict[str, Any], counts: dict[str, int], sets: dict[str, Any] | None = None) -> None:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        adds = []
        for i, (name, n) in enumerate(sorted(counts.items())):
            names[f"#c{i}"], values[f":c{i}"] = name, _n(n)
            adds.append(f"#c{i} :c{i}")
        expression = "ADD " + ", ".join(adds)
        if sets:
            parts = []
            for i, (name, value) in enumerate(sets.items()):
                names[f"#v{i}"], values[f":v{i}"] = name, value
                parts.append(f"#v{i} = :v{i}")
            expression = "SET " + ", ".join(parts) + " " + expression
        self._db.update_item(
            TableName=self._table,
            Key=key,
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def add_counts(
        self, scope: str, increments: dict[tuple[str, str], dict[str, int]], ttl_days: int
    ) -> None:
        ttl = _n(int(self.clock()) + ttl_days * 86400)
        for (bucket, key), counts in increments.items():
            if counts:
                self._add({"pk": _s(f"CNT#{scope}"), "sk": _s(f"{bucket}#{key}")}, counts, {"ttl": ttl})

    def read_counts(
        self, scope: str, first_bucket: str, last_bucket: str
    ) -> list[tuple[str, str, dict[str, int]]]:
        found = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": {
                ":p": _s(f"CNT#{scope}"),
                ":a": _s(f"{first_bucket}#"),
                ":b": _s(f"{last_bucket}#\uffff"),
            },
        }
        while True:
            reply = self._db.query(**kwargs)
            for item in reply["Items"]:
                bucket, _, key = item["sk"]["S"].partition("#")
                counts = {k: int(v["N"]) for k, v in item.items() if "N" in v and k != "ttl"}
                found.append((bucket, key, counts))
            if "LastEvaluatedKey" not in reply:
                return found
            kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]

    def count_events(self, connector_id: str, counts: dict[str, int]) -> None:
        if counts:
            self._add({"pk": _s(f"C#{connector_id}"), "sk": _s("STATS")}, counts)

    def note_voices(self, scope: str, bucket: str, voices: list[Voice], ttl_days: int) -> None:
        ttl = _n(int(self.clock()) + ttl_days * 86400)
        for voice in voices:
            sets: dict[str, Any] = {
                "reach": _n(voice.reach),
                "score": _n(float(voice.score)),
                "gsi1pk": _s(f"VREACH#{scope}#{bucket}"),
                "gsi1sk": _s(f"{min(voice.reach, 10**15 - 1):015d}#{voice.person_id}"),
                "gsi2pk": _s(f"VSCORE#{scope}#{bucket}"),
                "gsi2sk": _n(round(float(voice.score), 4)),
                "ttl": ttl,
            }
            key = {"pk": _s(f"VOICE#{scope}#{bucket}"), "sk": _s(voice.person_id)}
            self._add(key, {"mentions": voice.mentions}, sets)
            if voice.channels:
                self._db.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="ADD channels :c",
                    ExpressionAttributeValues={":c": {"SS": sorted(set(voice.channels))}},
                )

    def top_voices(self, scope: str, bucket: str, by: str, limit: int) -> list[Voice]:
        index, prefix = {"reach": ("gsi1", "VREACH"), "score": ("gsi2", "VSCORE")}[by]
        reply = self._db.query(
            TableName=self._table,
            IndexName=index,
            KeyConditionExpression=f"{index}pk = :p",
            ExpressionAttributeValues={":p": _s(f"{prefix}#{scope}#{bucket}")},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [
            Voice(
                person_id=i["sk"]["S"],
                mentions=int(i["mentions"]["N"]),
                reach=int(i["reach"]["N"]),
                score=float(i["score"]["N"]),
                channels=tuple(sorted(i.get("channels", {}).get("SS", []))),
            )
            for i in reply["Items"]
        ]

    def delete_voices(self, person_id: str, scope: str, buckets: list[str]) -> None:
        for bucket in dict.fromkeys(buckets):
            self._db.delete_item(
                TableName=self._table, Key={"pk": _s(f"VOICE#{scope}#{bucket}"), "sk": _s(person_id)}
            )
