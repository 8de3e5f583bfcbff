"""Single-table DynamoDB store on a boto3 *client* (a resource costs ~80 ms of cold start).

Items (pk / sk):
  P#{person}   PROFILE          Person; gsi2 ADVOCATES / score for "advocates by score"
  P#{person}   I#{interaction}  Interaction; gsi1 C#{connector} / {occurred_at}#{id}
  P#{person}   S#{connector}    SyncState (what was last written to that sink)
  ID#{ns}#{v}  ID               Identity -> person, claimed with a conditional put
  D#{conn}#{e} D                De-dup marker for a processed delivery event, with TTL
  DLQ#{conn}   {created}#{id}   Dead letter
  C#{conn}     STATS            Counters of rejected or skipped deliveries by reason
Model data is kept as one JSON attribute; only keys and index attributes are typed.
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from ..schema import IdentityRef, Interaction, Person
from .base import DeadLetter, SyncState, VersionConflict

BATCH_GET_MAX = 100


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float | int) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


class DynamoStore:
    def __init__(self, client: Any, table_name: str):
        self._db = client
        self._table = table_name

    # ---- de-duplication -------------------------------------------------------------------
    def is_processed(self, connector_id: str, event_id: str) -> bool:
        item = self._db.get_item(TableName=self._table, Key=self._key(f"D#{connector_id}#{event_id}", "D"),
                                 ProjectionExpression="pk").get("Item")
        return item is not None

    def mark_processed(self, connector_id: str, event_id: str, ttl_days: int) -> None:
        self._db.put_item(TableName=self._table, Item={
            **self._key(f"D#{connector_id}#{event_id}", "D"),
            "ttl": _n(int(time.time()) + ttl_days * 86400)})

    # ---- identities -----------------------------------------------------------------------
    def find_identities(self, refs: list[IdentityRef]) -> dict[str, str]:
        """identity key -> person id, for those already known (strongly consistent)."""
        found: dict[str, str] = {}
        unique = list({r.key: r for r in refs}.values())
        for start in range(0, len(unique), BATCH_GET_MAX):
            keys = [self._key(f"ID#{r.key}", "ID") for r in unique[start:start + BATCH_GET_MAX]]
            request = {self._table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                reply = self._db.batch_get_item(RequestItems=request)
                for item in reply["Responses"].get(self._table, []):
                    found[item["pk"]["S"][3:]] = item["person_id"]["S"]
                request = reply.get("UnprocessedKeys") or None
        return found

    def claim_identity(self, ref: IdentityRef, person_id: str) -> str:
        """Point `ref` at `person_id` unless it already points somewhere; return the owner."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item={**self._key(f"ID#{ref.key}", "ID"), "person_id": _s(person_id),
                      "namespace": _s(ref.namespace)},
                ConditionExpression="attribute_not_exists(pk)")
            return person_id
        except self._db.exceptions.ConditionalCheckFailedException:
            item = self._db.get_item(TableName=self._table, Key=self._key(f"ID#{ref.key}", "ID"),
                                     ConsistentRead=True)["Item"]
            return item["person_id"]["S"]

    # ---- people ---------------------------------------------------------------------------
    def get_person(self, person_id: str) -> Person | None:
        return self.get_person_versioned(person_id)[0]

    def get_person_versioned(self, person_id: str) -> tuple[Person | None, int | None]:
        """The person and the version to pass to put_person (None, None when unknown)."""
        item = self._db.get_item(TableName=self._table, Key=self._key(f"P#{person_id}", "PROFILE"),
                                 ConsistentRead=True).get("Item")
        if not item:
            return None, None
        return Person.model_validate_json(item["data"]["S"]), int(item["version"]["N"])

    def put_person(self, person: Person, expected_version: int | None) -> int:
        """Write the person if nobody else did since `expected_version` (None: must be new)."""
        new_version = (expected_version or 0) + 1
        item = {**self._key(f"P#{person.person_id}", "PROFILE"), "data": _s(person.model_dump_json()),
                "version": _n(new_version), "gsi2pk": _s("ADVOCATES"),
                "gsi2sk": _n(round(person.advocate.score, 4))}
        if expected_version is None:
            condition, values = "attribute_not_exists(pk)", None
        else:
            condition, values = "version = :v", {":v": _n(expected_version)}
        kwargs: dict[str, Any] = {"TableName": self._table, "Item": item, "ConditionExpression": condition}
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            self._db.put_item(**kwargs)
        except self._db.exceptions.ConditionalCheckFailedException:
            raise VersionConflict(person.person_id) from None
        return new_version

    def advocates(self, min_score: float, limit: int) -> list[Person]:
        reply = self._db.query(
            TableName=self._table, IndexName="gsi2",
            KeyConditionExpression="gsi2pk = :p AND gsi2sk >= :m",
            ExpressionAttributeValues={":p": _s("ADVOCATES"), ":m": _n(float(min_score))},
            ScanIndexForward=False, Limit=limit)
        return [Person.model_validate_json(i["data"]["S"]) for i in reply["Items"]]

    # ---- interactions ---------------------------------------------------------------------
    def get_interaction(self, person_id: str, interaction_id: str) -> Interaction | None:
        item = self._db.get_item(TableName=self._table, Key=self._key(f"P#{person_id}", f"I#{interaction_id}"),
                                 ConsistentRead=True).get("Item")
        return Interaction.model_validate_json(item["data"]["S"]) if item else None

    def put_interaction(self, interaction: Interaction) -> bool:
        """Write unless a newer version of the same interaction is stored (last write wins)."""
        version = interaction.version_time.timestamp()
        try:
            self._db.put_item(
                TableName=self._table,
                Item={**self._key(f"P#{interaction.person_id}", f"I#{interaction.interaction_id}"),
                      "data": _s(interaction.model_dump_json()), "version_time": _n(version),
                      "gsi1pk": _s(f"C#{interaction.connector_id}"),
                      "gsi1sk": _s(f"{interaction.occurred_at.isoformat()}#{interaction.interaction_id}")},
                ConditionExpression="attribute_not_exists(pk) OR version_time <= :v",
                ExpressionAttributeValues={":v": _n(version)})
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

    def person_interactions(self, person_id: str) -> list[Interaction]:
        items = self._query_all(KeyConditionExpression="pk = :p AND begins_with(sk, :i)",
                                ExpressionAttributeValues={":p": _s(f"P#{person_id}"), ":i": _s("I#")},
                                ConsistentRead=True)
        result = [Interaction.model_validate_json(i["data"]["S"]) for i in items]
        return sorted(result, key=lambda ix: ix.occurred_at)

    def connector_interactions(self, connector_id: str, limit: int) -> list[Interaction]:
        reply = self._db.query(TableName=self._table, IndexName="gsi1",
                               KeyConditionExpression="gsi1pk = :c",
                               ExpressionAttributeValues={":c": _s(f"C#{connector_id}")},
                               ScanIndexForward=False, Limit=limit)
        return [Interaction.model_validate_json(i["data"]["S"]) for i in reply["Items"]]

    # ---- sync state -----------------------------------------------------------------------
    def get_sync_states(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], SyncState]:
        found: dict[tuple[str, str], SyncState] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), BATCH_GET_MAX):
            chunk = [self._key(f"P#{p}", f"S#{c}") for p, c in unique[start:start + BATCH_GET_MAX]]
            request = {self._table: {"Keys": chunk, "ConsistentRead": True}}
            while request:
                reply = self._db.batch_get_item(RequestItems=request)
                for item in reply["Responses"].get(self._table, []):
                    state = _sync_state_from(json.loads(item["data"]["S"]))
                    found[(state.person_id, state.connector_id)] = state
                request = reply.get("UnprocessedKeys") or None
        return found

    def put_sync_state(self, state: SyncState) -> None:
        data = {**state.__dict__,
                "changed_at": state.changed_at.isoformat() if state.changed_at else None,
                "synced_at": state.synced_at.isoformat() if state.synced_at else None}
        self._db.put_item(TableName=self._table, Item={
            **self._key(f"P#{state.person_id}", f"S#{state.connector_id}"),
            "data": _s(json.dumps(data, default=str))})

    # ---- dead letters and counters --------------------------------------------------------
    def put_dead_letter(self, letter: DeadLetter) -> None:
        data = {**letter.__dict__, "created_at": letter.created_at.isoformat()}
        self._db.put_item(TableName=self._table, Item={
            **self._key(f"DLQ#{letter.connector_id}", f"{letter.created_at.isoformat()}#{letter.dead_letter_id}"),
            "data": _s(json.dumps(data, default=str))})

    def dead_letters(self, connector_id: str, limit: int) -> list[DeadLetter]:
        reply = self._db.query(TableName=self._table, KeyConditionExpression="pk = :p",
                               ExpressionAttributeValues={":p": _s(f"DLQ#{connector_id}")}, Limit=limit)
        letters = []
        for item in reply["Items"]:
            data = json.loads(item["data"]["S"])
            data["created_at"] = datetime.fromisoformat(data["created_at"])
            letters.append(DeadLetter(**data))
        return letters

    def delete_dead_letter(self, letter: DeadLetter) -> None:
        self._db.delete_item(TableName=self._table, Key=self._key(
            f"DLQ#{letter.connector_id}", f"{letter.created_at.isoformat()}#{letter.dead_letter_id}"))

    def count_event(self, connector_id: str, reason: str) -> None:
        self._db.update_item(TableName=self._table, Key=self._key(f"C#{connector_id}", "STATS"),
                             UpdateExpression="ADD #r :one",
                             ExpressionAttributeNames={"#r": reason},
                             ExpressionAttributeValues={":one": _n(1)})

    def event_counts(self, connector_id: str) -> dict[str, int]:
        item = self._db.get_item(TableName=self._table, Key=self._key(f"C#{connector_id}", "STATS")).get("Item")
        return {k: int(v["N"]) for k, v in (item or {}).items() if "N" in v}

    # ---- helpers --------------------------------------------------------------------------
    @staticmethod
    def _key(pk: str, sk: str) -> dict[str, dict[str, str]]:
        return {"pk": _s(pk), "sk": _s(sk)}

    def _query_all(self, **kwargs: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            reply = self._db.query(TableName=self._table, **kwargs)
            items += reply["Items"]
            if "LastEvaluatedKey" not in reply:
                return items
            kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]


def _sync_state_from(data: dict[str, Any]) -> SyncState:
    for name in ("changed_at", "synced_at"):
        if data.get(name):
            data[name] = datetime.fromisoformat(data[name])
    return SyncState(**data)
