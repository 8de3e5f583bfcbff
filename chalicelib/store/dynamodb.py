"""Single-table DynamoDB store on a boto3 *client* (a resource costs ~80 ms of cold start).

Items (pk / sk):
  P#{person}   PROFILE          Person; gsi2 ADVOCATES / score for "advocates by score"
  P#{person}   I#{interaction}  Interaction; gsi1 C#{connector} / {occurred_at}#{id}; a threaded one
                                also gsi2 T#{connector}#{thread} / occurred_at (thread deletions)
  P#{person}   S#{connector}    SyncState (what was last written to that sink)
  ID#{ns}#{v}  ID               Identity -> person, claimed with a conditional put
  D#{conn}#{e} D                De-dup marker for a processed delivery event, with TTL
  DLQ#{conn}   {created}#{id}   Dead letter
  C#{conn}     STATS            Counters of rejected or skipped deliveries by reason; last_delivery_at
  P#{person}   A#{action}       Closed-loop Action; gsi1 ACTIONS / {created_at}#{action} (newest first)
  P#{person}   L#{rule}         The loop's per-person, per-rule cap (last time it acted)
  ERASED#{h}   E                An erased identity or interaction: HMAC(salt, key), never the value
  ERASURE      SALT             The random salt of those hashes (made once per table)
  M#{merge}    MERGE            MergeRecord: what a merge moved, so it can be undone
  X#{key}      X                Create claim of a sink without an upsert: lease end, created id; TTL
  DLV#, CNT#, VOICE#            The delivery log and time-bucketed counters: see dynamodb_deliveries.py
                                and dynamodb_counters.py
  LC#{conn}    F#{feed}         ListenerCursor: where a listener's feed stands (store/listener_cursors.py)
  K#{hash}     K                Cross-connector key -> person, interaction (store/interaction_keys.py);
                                the key is hashed (a permalink can name its author, and be long)
Profiles also sit in gsi1 under DECAY / {decay_due_at} while recency decay can still move their
score (sparse: only people with a due time), so the decay schedule reads only the people due.
Model data is kept as one JSON attribute; only keys and index attributes are typed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from ..schema import Action, IdentityLink, IdentityRef, Interaction, MergeRecord, Person
from . import cursors
from .dynamodb_counters import DynamoCounters
from .dynamodb_deliveries import DynamoDeliveryLog
from .listener_cursors import ListenerCursor, cursor_from_json, cursor_to_json
from .records import BadCursor, DeadLetter, Page, PersonItems, SyncState, VersionConflict

BATCH_GET_MAX = 100


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float | int) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


class DynamoStore(DynamoDeliveryLog, DynamoCounters):
    def __init__(self, client: Any, table_name: str, clock: Callable[[], float] = time.time):
        self._db = client
        self._table = table_name
        self.clock = clock  # epoch seconds, for TTLs
        self._salt: str | None = None  # erasure_salt(), read once

    def atomic(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to group: each DynamoDB write stands alone (the pipeline is idempotent)."""
        return contextlib.nullcontext()

    # ---- de-duplication -------------------------------------------------------------------
    def is_processed(self, connector_id: str, event_id: str) -> bool:
        """A marker past its TTL counts as gone: DynamoDB deletes expired items only eventually."""
        item = self._db.get_item(
            TableName=self._table,
            Key=self._key(f"D#{connector_id}#{event_id}", "D"),
            ProjectionExpression="#ttl",
            ExpressionAttributeNames={"#ttl": "ttl"},
        ).get("Item")
        return item is not None and float(item.get("ttl", {}).get("N", "inf")) > self.clock()

    def mark_processed(self, connector_id: str, event_id: str, ttl_days: int) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                **self._key(f"D#{connector_id}#{event_id}", "D"),
                "ttl": _n(int(self.clock()) + ttl_days * 86400),
            },
        )

    # ---- identities -----------------------------------------------------------------------
    def find_identities(self, refs: Sequence[IdentityRef]) -> dict[str, str]:
        """identity key -> person id, for those already known (strongly consistent)."""
        return {key: owner for key, (owner, _) in self.find_identity_links(refs).items()}

    def claim_identity(self, ref: IdentityRef, person_id: str) -> str:
        """Point `ref` at `person_id` unless it already points somewhere; return the owner."""
        return self._claim_identity_item(ref, person_id, {})

    def _claim_identity_item(self, ref: IdentityRef, person_id: str, extra: dict[str, Any]) -> str:
        try:
            self._db.put_item(**self._identity_claim(ref, person_id, extra))
            return person_id
        except self._db.exceptions.ConditionalCheckFailedException:
            return self._db.get_item(
                TableName=self._table, Key=self._key(f"ID#{ref.key}", "ID"), ConsistentRead=True
            )["Item"]["person_id"]["S"]

    def _identity_claim(self, ref: IdentityRef, person_id: str, extra: dict[str, Any]) -> dict[str, Any]:
        """The conditional put of an identity item (alone, or as one item of a transaction)."""
        return {
            "TableName": self._table,
            "ConditionExpression": "attribute_not_exists(pk)",
            "Item": {
                **self._key(f"ID#{ref.key}", "ID"),
                "person_id": _s(person_id),
                "namespace": _s(ref.namespace),
                **extra,
            },
        }

    # ---- people ---------------------------------------------------------------------------
    def get_person(self, person_id: str) -> Person | None:
        return self.get_person_versioned(person_id)[0]

    def get_person_versioned(self, person_id: str) -> tuple[Person | None, int | None]:
        """The person and the version to pass to put_person (None, None when unknown)."""
        item = self._db.get_item(
            TableName=self._table, Key=self._key(f"P#{person_id}", "PROFILE"), ConsistentRead=True
        ).get("Item")
        if not item:
            return None, None
        return Person.model_validate_json(item["data"]["S"]), int(item["version"]["N"])

    def put_person(self, person: Person, expected_version: int | None) -> int:
        """Write the person if nobody else did since `expected_version` (None: must be new)."""
        new_version = (expected_version or 0) + 1
        item = {
            **self._key(f"P#{person.person_id}", "PROFILE"),
            "data": _s(person.model_dump_json()),
            "version": _n(new_version),
            "gsi2pk": _s("ADVOCATES"),
            "gsi2sk": _n(round(person.advocate.score, 4)),
        }
        if person.merged_into:  # merged away: neither an advocate nor due for decay any more
            del item["gsi2pk"], item["gsi2sk"]
        elif person.advocate.decay_due_at is not None:
            item.update(gsi1pk=_s("DECAY"), gsi1sk=_s(person.advocate.decay_due_at.isoformat()))
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
            TableName=self._table,
            IndexName="gsi2",
            KeyConditionExpression="gsi2pk = :p AND gsi2sk >= :m",
            ExpressionAttributeValues={":p": _s("ADVOCATES"), ":m": _n(float(min_score))},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [Person.model_validate_json(i["data"]["S"]) for i in reply["Items"]]

    # ---- interactions ---------------------------------------------------------------------
    def get_interaction(self, person_id: str, interaction_id: str) -> Interaction | None:
        item = self._db.get_item(
            TableName=self._table, Key=self._key(f"P#{person_id}", f"I#{interaction_id}"), ConsistentRead=True
        ).get("Item")
        return Interaction.model_validate_json(item["data"]["S"]) if item else None

    def put_interaction(self, interaction: Interaction) -> bool:
        """Write unless a newer version of the same interaction is stored (last write wins)."""
        version = interaction.version_time.timestamp()
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **self._key(f"P#{interaction.person_id}", f"I#{interaction.interaction_id}"),
                    "data": _s(interaction.model_dump_json()),
                    "version_time": _n(version),
                    "gsi1pk": _s(f"C#{interaction.connector_id}"),
                    "gsi1sk": _s(f"{interaction.occurred_at.isoformat()}#{interaction.interaction_id}"),
                    **self._thread_keys(interaction),
                },
                ConditionExpression="attribute_not_exists(pk) OR version_time <= :v",
                ExpressionAttributeValues={":v": _n(version)},
            )
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

    def person_interactions(self, person_id: str) -> list[Interaction]:
        items = self._query_all(
            KeyConditionExpression="pk = :p AND begins_with(sk, :i)",
            ExpressionAttributeValues={":p": _s(f"P#{person_id}"), ":i": _s("I#")},
            ConsistentRead=True,
        )
        result = [Interaction.model_validate_json(i["data"]["S"]) for i in items]
        return sorted(result, key=lambda ix: ix.occurred_at)

    @staticmethod
    def _thread_keys(interaction: Interaction) -> dict[str, Any]:
        """Threaded items sit in gsi2 under T#{connector}#{thread}, so a thread deletion finds
        every author's items (profiles use gsi2 under ADVOCATES; the prefixes never meet)."""
        if interaction.thread_id is None:
            return {}
        return {
            "gsi2pk": _s(f"T#{interaction.connector_id}#{interaction.thread_id}"),
            "gsi2sk": _n(interaction.occurred_at.timestamp()),
        }

    def thread_interactions(self, connector_id: str, thread_id: str) -> list[Interaction]:
        items = self._query_all(
            IndexName="gsi2",
            KeyConditionExpression="gsi2pk = :t",
            ExpressionAttributeValues={":t": _s(f"T#{connector_id}#{thread_id}")},
        )
        return [Interaction.model_validate_json(i["data"]["S"]) for i in items]

    def connector_interactions(self, connector_id: str, limit: int) -> list[Interaction]:
        reply = self._db.query(
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :c",
            ExpressionAttributeValues={":c": _s(f"C#{connector_id}")},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [Interaction.model_validate_json(i["data"]["S"]) for i in reply["Items"]]

    # ---- sync state -----------------------------------------------------------------------
    def get_sync_states(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], SyncState]:
        found: dict[tuple[str, str], SyncState] = {}
        items = self._batch_get([self._key(f"P#{p}", f"S#{c}") for p, c in dict.fromkeys(keys)])
        for item in items:
            state = SyncState.from_json(json.loads(item["data"]["S"]))
            found[(state.person_id, state.connector_id)] = state
        return found

    def put_sync_state(self, state: SyncState) -> None:
        data = state.to_json()
        self._db.put_item(
            TableName=self._table,
            Item={
                **self._key(f"P#{state.person_id}", f"S#{state.connector_id}"),
                "data": _s(json.dumps(data, default=str)),
            },
        )

    # ---- dead letters and counters --------------------------------------------------------
    def put_dead_letter(self, letter: DeadLetter) -> None:
        data = letter.to_json()
        self._db.put_item(
            TableName=self._table,
            Item={
                **self._key(
                    f"DLQ#{letter.connector_id}", f"{letter.created_at.isoformat()}#{letter.dead_letter_id}"
                ),
                "data": _s(json.dumps(data, default=str)),
            },
        )

    def dead_letters(self, connector_id: str, limit: int) -> list[DeadLetter]:
        reply = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": _s(f"DLQ#{connector_id}")},
            Limit=limit,
        )
        return [DeadLetter.from_json(json.loads(item["data"]["S"])) for item in reply["Items"]]

    def delete_dead_letter(self, letter: DeadLetter) -> None:
        self._db.delete_item(
            TableName=self._table,
            Key=self._key(
                f"DLQ#{letter.connector_id}", f"{letter.created_at.isoformat()}#{letter.dead_letter_id}"
            ),
        )

    def count_event(self, connector_id: str, reason: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=self._key(f"C#{connector_id}", "STATS"),
            UpdateExpression="ADD #r :one",
            ExpressionAttributeNames={"#r": reason},
            ExpressionAttributeValues={":one": _n(1)},
        )

    def event_counts(self, connector_id: str) -> dict[str, int]:
        item = self._db.get_item(TableName=self._table, Key=self._key(f"C#{connector_id}", "STATS")).get(
            "Item"
        )
        return {k: int(v["N"]) for k, v in (item or {}).items() if "N" in v}

    # ---- shared API budgets (see sync/budget.py) --------------------------------------------
    def budget_take(self, key: str, window: int, limit: int, ttl: int) -> bool:
        """Count one request in the window unless the window is full."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(f"BUDGET#{key}", f"W#{window}"),
                UpdateExpression="ADD used :one SET #ttl = :ttl",
                ConditionExpression="attribute_not_exists(used) OR used < :limit",
                ExpressionAttributeNames={"#ttl": "ttl"},
                ExpressionAttributeValues={":one": _n(1), ":limit": _n(limit), ":ttl": _n(ttl)},
            )
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

    def get_token(self, key: str) -> tuple[str, float] | None:
        item = self._db.get_item(
            TableName=self._table, Key=self._key(f"TOKEN#{key}", "T"), ConsistentRead=True
        ).get("Item")
        return (item["sealed"]["S"], float(item["expires_at"]["N"])) if item else None

    def put_token(self, key: str, sealed: str, expires_at: float) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                **self._key(f"TOKEN#{key}", "T"),
                "sealed": _s(sealed),
                "expires_at": _n(round(expires_at, 3)),
                "ttl": _n(int(expires_at) + 3600),
            },
        )

    def budget_blocked_until(self, key: str) -> float:
        item = self._db.get_item(
            TableName=self._table, Key=self._key(f"BUDGET#{key}", "BLOCK"), ConsistentRead=True
        ).get("Item")
        return float(item["until"]["N"]) if item else 0.0

    def budget_block(self, key: str, until: float) -> None:
        """Push the block forward, never back (a later, shorter Retry-After does not unblock)."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(f"BUDGET#{key}", "BLOCK"),
                UpdateExpression="SET #u = :u, #ttl = :ttl",
                ConditionExpression="attribute_not_exists(#u) OR #u < :u",
                ExpressionAttributeNames={"#u": "until", "#ttl": "ttl"},
                ExpressionAttributeValues={":u": _n(round(until, 3)), ":ttl": _n(int(until) + 3600)},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            pass

    # ---- admin pages: one Query each, resumable from DynamoDB's LastEvaluatedKey -----------
    def _page(self, scope: str, limit: int, cursor: str | None, **kwargs: Any) -> Page[dict[str, Any]]:
        """One page of a Query; the cursor wraps LastEvaluatedKey, bound to `scope`."""
        start = _start_key(cursors.decode(scope, cursor))
        if start:
            kwargs["ExclusiveStartKey"] = start
        try:
            reply = self._db.query(TableName=self._table, Limit=limit, **kwargs)
        except self._db.exceptions.ClientError as exc:
            if start and exc.response.get("Error", {}).get("Code") == "ValidationException":
                raise BadCursor("not a cursor for this list") from None
            raise
        return reply["Items"], cursors.encode(scope, reply.get("LastEvaluatedKey"))

    def advocates_page(self, min_score: float, limit: int, cursor: str | None = None) -> Page[Person]:
        items, nxt = self._page(
            f"advocates:{float(min_score)}",
            limit,
            cursor,
            IndexName="gsi2",
            ScanIndexForward=False,
            KeyConditionExpression="gsi2pk = :p AND gsi2sk >= :m",
            ExpressionAttributeValues={":p": _s("ADVOCATES"), ":m": _n(float(min_score))},
        )
        return [Person.model_validate_json(i["data"]["S"]) for i in items], nxt

    def connector_interactions_page(
        self, connector_id: str, limit: int, cursor: str | None = None
    ) -> Page[Interaction]:
        items, nxt = self._page(
            f"interactions:C#{connector_id}",
            limit,
            cursor,
            IndexName="gsi1",
            ScanIndexForward=False,
            KeyConditionExpression="gsi1pk = :c",
            ExpressionAttributeValues={":c": _s(f"C#{connector_id}")},
        )
        return [Interaction.model_validate_json(i["data"]["S"]) for i in items], nxt

    def person_interactions_page(
        self, person_id: str, limit: int, cursor: str | None = None
    ) -> Page[Interaction]:
        """A person's interactions in key (interaction id) order."""
        items, nxt = self._page(
            f"interactions:P#{person_id}",
            limit,
            cursor,
            KeyConditionExpression="pk = :p AND begins_with(sk, :i)",
            ExpressionAttributeValues={":p": _s(f"P#{person_id}"), ":i": _s("I#")},
        )
        return [Interaction.model_validate_json(i["data"]["S"]) for i in items], nxt

    def dead_letters_page(self, connector_id: str, limit: int, cursor: str | None = None) -> Page[DeadLetter]:
        """Oldest first (the sort key starts with the time the letter was written)."""
        items, nxt = self._page(
            f"dead_letters:{connector_id}",
            limit,
            cursor,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": _s(f"DLQ#{connector_id}")},
        )
        return [DeadLetter.from_json(json.loads(i["data"]["S"])) for i in items], nxt

    def actions_page(self, person_id: str | None, limit: int, cursor: str | None = None) -> Page[Action]:
        """Every action newest first (gsi1 ACTIONS), or one person's (their partition, by action id)."""
        if person_id:
            items, nxt = self._page(
                f"actions:{person_id}",
                limit,
                cursor,
                KeyConditionExpression="pk = :p AND begins_with(sk, :a)",
                ExpressionAttributeValues={":p": _s(f"P#{person_id}"), ":a": _s("A#")},
            )
        else:
            items, nxt = self._page(
                "actions:*",
                limit,
                cursor,
                IndexName="gsi1",
                ScanIndexForward=False,
                KeyConditionExpression="gsi1pk = :a",
                ExpressionAttributeValues={":a": _s("ACTIONS")},
            )
        return [Action.model_validate_json(i["data"]["S"]) for i in items], nxt

    # ---- connector health -----------------------------------------------------------------
    def touch_connector(self, connector_id: str, received_at: datetime) -> None:
        """Remember the newest delivery time of a connector (kept only if newer: redeliveries and
        replays of old deliveries do not move it back). One write per processed queue message."""
        stamp = received_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(f"C#{connector_id}", "STATS"),
                UpdateExpression="SET last_delivery_at = :t",
                ConditionExpression="attribute_not_exists(last_delivery_at) OR last_delivery_at < :t",
                ExpressionAttributeValues={":t": _s(stamp)},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            pass

    def connector_stats(self, connector_ids: list[str]) -> dict[str, dict[str, Any]]:
        """connector id -> {"counts": {reason: n}, "last_delivery_at": ISO text or None}."""
        found: dict[str, dict[str, Any]] = {
            c: {"counts": {}, "last_delivery_at": None} for c in connector_ids
        }
        keys = [self._key(f"C#{c}", "STATS") for c in dict.fromkeys(connector_ids)]
        for item in self._batch_get(keys):
            cid = item["pk"]["S"][2:]
            found[cid] = {
                "counts": {k: int(v["N"]) for k, v in item.items() if "N" in v},
                "last_delivery_at": item.get("last_delivery_at", {}).get("S"),
            }
        return found

    # ---- privacy: erase a person, and remember the erasure (salted hashes only) -----------
    def _person_partition(self, person_id: str) -> list[dict[str, Any]]:
        return self._query_all(
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": _s(f"P#{person_id}")},
            ConsistentRead=True,
        )

    def person_items(self, person_id: str) -> PersonItems:
        """Everything in a person's partition, by kind (see the item list above)."""
        found = PersonItems()
        for item in self._person_partition(person_id):
            sk, data = item["sk"]["S"], item.get("data", {}).get("S")
            if sk == "PROFILE":
                found.person = Person.model_validate_json(data)
            elif sk.startswith("I#"):
                found.interactions.append(Interaction.model_validate_json(data))
            elif sk.startswith("S#"):
                found.sync_states.append(SyncState.from_json(json.loads(data)))
            elif sk.startswith("A#"):
                found.actions.append(Action.model_validate_json(data))
            elif sk.startswith("L#"):  # the loop's cap: a rule, a time and an interaction id
                found.other.append(
                    {
                        "kind": "loop_cap",
                        "rule": sk[2:],
                        "last_at": float(item["last_at"]["N"]),
                        "interaction_id": item["interaction_id"]["S"],
                    }
                )
            else:
                found.other.append({"kind": sk.partition("#")[0], "data": json.loads(data) if data else None})
        return found

    def delete_person_items(self, person_id: str) -> int:
        keys = [{"pk": i["pk"], "sk": i["sk"]} for i in self._person_partition(person_id)]
        self._batch_delete(keys)
        return len(keys)

    def delete_identity(self, ref_key: str, person_id: str) -> bool:
        """Delete an identity pointer if it still points at `person_id` (not one since re-linked)."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=self._key(f"ID#{ref_key}", "ID"),
                ConditionExpression="person_id = :p",
                ExpressionAttributeValues={":p": _s(person_id)},
            )
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

    def delete_processed_markers(self, markers: list[tuple[str, str]]) -> None:
        self._batch_delete([self._key(f"D#{c}#{e}", "D") for c, e in dict.fromkeys(markers)])

    def erasure_salt(self) -> str:
        """A random salt made once per table, so erasure hashes match nothing outside it."""
        if self._salt:
            return self._salt
        key = self._key("ERASURE", "SALT")
        item = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
        if item is None:
            import secrets

            try:
                self._db.put_item(
                    TableName=self._table,
                    Item={**key, "salt": _s(secrets.token_hex(32))},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except self._db.exceptions.ConditionalCheckFailedException:
                pass  # another worker made it first: use theirs
            item = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True)["Item"]
        self._salt = item["salt"]["S"]
        return self._salt

    def put_erasures(self, hashes: list[str], erased_at: datetime) -> None:
        self._batch_write(
            [
                {
                    "PutRequest": {
                        "Item": {**self._key(f"ERASED#{h}", "E"), "erased_at": _s(erased_at.isoformat())}
                    }
                }
                for h in dict.fromkeys(hashes)
            ]
        )

    def forget_deleted(self) -> bool:
        """Nothing to do: a deleted item is gone from the table (backups and PITR: docs/privacy.md)."""
        return True

    def any_erased(self, hashes: list[str]) -> bool:
        return bool(hashes) and bool(
            self._batch_get([self._key(f"ERASED#{h}", "E") for h in dict.fromkeys(hashes)], projection="pk")
        )

    # ---- create claims ----------------------------------------------------------------------
    def claim_create(self, key: str, now: datetime, lease_seconds: float) -> tuple[bool, str | None, float]:
        """Take the right to create the record `key` unless it was taken less than
        `lease_seconds` ago: (True, None, lease end), or (False, the id its creator recorded if
        any, the holder's lease end), lease ends in epoch seconds."""
        stamp = now.timestamp()
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **self._key(f"X#{key}", "X"),
                    "until": _n(stamp + lease_seconds),
                    "ttl": _n(int(stamp + lease_seconds) + 86400),
                },
                ConditionExpression="attribute_not_exists(pk) OR #u <= :now",
                ExpressionAttributeNames={"#u": "until"},
                ExpressionAttributeValues={":now": _n(stamp)},
            )
            return True, None, stamp + lease_seconds
        except self._db.exceptions.ConditionalCheckFailedException:
            item = (
                self._db.get_item(
                    TableName=self._table, Key=self._key(f"X#{key}", "X"), ConsistentRead=True
                ).get("Item")
                or {}
            )
            return False, item.get("crm_id", {}).get("S"), float(item.get("until", {}).get("N", stamp))

    def record_created(self, key: str, crm_id: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=self._key(f"X#{key}", "X"),
            UpdateExpression="SET crm_id = :c",
            ExpressionAttributeValues={":c": _s(crm_id)},
        )

    # ---- closed loop ----------------------------------------------------------------------
    def claim_loop_slot(
        self, person_id: str, rule: str, interaction_id: str, now: datetime, cooldown_seconds: float
    ) -> bool:
        """The per-person, per-rule cap: take the slot unless another interaction took it less
        than `cooldown_seconds` ago. The same interaction may take it again (a retry)."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **self._key(f"P#{person_id}", f"L#{rule}"),
                    "last_at": _n(now.timestamp()),
                    "interaction_id": _s(interaction_id),
                },
                ConditionExpression="attribute_not_exists(pk) OR last_at <= :cutoff OR interaction_id = :i",
                ExpressionAttributeValues={
                    ":cutoff": _n(now.timestamp() - cooldown_seconds),
                    ":i": _s(interaction_id),
                },
            )
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

    def put_action(self, action: Action) -> bool:
        """Store an action once (its id is stable per person, rule and interaction)."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **self._key(f"P#{action.person_id}", f"A#{action.action_id}"),
                    "data": _s(action.model_dump_json()),
                    "gsi1pk": _s("ACTIONS"),
                    "gsi1sk": _s(f"{action.created_at.isoformat()}#{action.action_id}"),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

    def _batch_get(self, keys: list[dict[str, Any]], projection: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_MAX):
            request: dict[str, Any] = {"Keys": keys[start : start + BATCH_GET_MAX], "ConsistentRead": True}
            if projection:
                request["ProjectionExpression"] = projection
            pending: dict[str, Any] | None = {self._table: request}
            while pending:
                reply = self._db.batch_get_item(RequestItems=pending)
                found += reply["Responses"].get(self._table, [])
                pending = reply.get("UnprocessedKeys") or None
        return found

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] | None = {self._table: requests[start : start + 25]}
            while pending:
                pending = self._db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or None

    def _batch_delete(self, keys: list[dict[str, Any]]) -> None:
        self._batch_write([{"DeleteRequest": {"Key": k}} for k in keys])

    # ---- identity graph (pipeline/identity.py, pipeline/merge.py) --------------------------
    def find_identity_links(self, refs: Sequence[IdentityRef]) -> dict[str, tuple[str, float]]:
        """identity key -> (person id, confidence of that claim), strongly consistent. Claims
        written before confidences existed count as certain (1.0)."""
        keys = [self._key(f"ID#{key}", "ID") for key in dict.fromkeys(r.key for r in refs)]
        return {
            item["pk"]["S"][3:]: (
                item["person_id"]["S"],
                float(item["confidence"]["N"]) if "confidence" in item else 1.0,
            )
            for item in self._batch_get(keys)
        }

    def claim_identity_link(self, link: IdentityLink, person_id: str) -> str:
        """claim_identity, keeping the link's evidence and confidence on the identity item."""
        return self._claim_identity_item(link, person_id, self._link_attributes(link))

    def claim_identity_links(self, links: list[IdentityLink], person_id: str) -> bool:
        """Claim all of `links` for the person or none: False when any is owned already (or a
        concurrent transaction touched one). One conditional put, or one transaction for several,
        so two deliveries that meet never leave a new person half-claimed (pipeline/identity.py)."""
        if len(links) == 1:
            return self.claim_identity_link(links[0], person_id) == person_id
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {"Put": self._identity_claim(link, person_id, self._link_attributes(link))}
                    for link in links
                ]
            )
            return True
        except self._db.exceptions.TransactionCanceledException as exc:
            codes = {r.get("Code") for r in exc.response.get("CancellationReasons", [])} - {"None", None}
            if codes <= {"ConditionalCheckFailed", "TransactionConflict"}:
                return False
            raise

    @staticmethod
    def _link_attributes(link: IdentityLink) -> dict[str, Any]:
        return {"confidence": _n(float(link.confidence)), "data": _s(link.model_dump_json())}

    def repoint_identity(self, ref: IdentityRef, from_person: str, to_person: str) -> bool:
        """Move an identity to another person if it still points at `from_person`."""
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(f"ID#{ref.key}", "ID"),
                UpdateExpression="SET person_id = :to",
                ConditionExpression="person_id = :from",
                ExpressionAttributeValues={":to": _s(to_person), ":from": _s(from_person)},
            )
            return True
        except self._db.exceptions.ConditionalCheckFailedException:
            return False

    def delete_interaction(self, person_id: str, interaction_id: str) -> None:
        self._db.delete_item(TableName=self._table, Key=self._key(f"P#{person_id}", f"I#{interaction_id}"))

    def delete_sync_state(self, person_id: str, connector_id: str) -> None:
        self._db.delete_item(TableName=self._table, Key=self._key(f"P#{person_id}", f"S#{connector_id}"))

    def put_merge(self, merge: MergeRecord) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={**self._key(f"M#{merge.merge_id}", "MERGE"), "data": _s(merge.model_dump_json())},
        )

    def get_merge(self, merge_id: str) -> MergeRecord | None:
        item = self._db.get_item(
            TableName=self._table, Key=self._key(f"M#{merge_id}", "MERGE"), ConsistentRead=True
        ).get("Item")
        return MergeRecord.model_validate_json(item["data"]["S"]) if item else None

    def delete_merge(self, merge_id: str) -> None:
        self._db.delete_item(TableName=self._table, Key=self._key(f"M#{merge_id}", "MERGE"))

    def people_due_for_decay(self, now: datetime, limit: int) -> list[str]:
        """Ids of people whose decay_due_at has passed (gsi1 DECAY: only they are read)."""
        ids: list[str] = []
        kwargs: dict[str, Any] = {}
        while len(ids) < limit:
            reply = self._db.query(
                TableName=self._table,
                IndexName="gsi1",
                KeyConditionExpression="gsi1pk = :d AND gsi1sk <= :now",
                ExpressionAttributeValues={":d": _s("DECAY"), ":now": _s(now.isoformat())},
                ProjectionExpression="pk",
                Limit=limit - len(ids),
                **kwargs,
            )
            ids += [item["pk"]["S"][2:] for item in reply["Items"]]
            if "LastEvaluatedKey" not in reply:
                break
            kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]
        return ids

    # ---- listener cursors (store/listener_cursors.py) ------------------------------------------------
    def get_cursor(self, connector_id: str, feed: str) -> ListenerCursor | None:
        item = self._db.get_item(
            TableName=self._table, Key=self._key(f"LC#{connector_id}", f"F#{feed}"), ConsistentRead=True
        ).get("Item")
        return cursor_from_json(item["data"]["S"]) if item else None

    def put_cursor(self, cursor: ListenerCursor) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                **self._key(f"LC#{cursor.connector_id}", f"F#{cursor.feed}"),
                "data": _s(cursor_to_json(cursor)),
            },
        )

    def connector_cursors(self, connector_id: str) -> list[ListenerCursor]:
        items = self._query_all(
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": _s(f"LC#{connector_id}")},
            ConsistentRead=True,
        )
        return [cursor_from_json(i["data"]["S"]) for i in items]

    # ---- cross-connector keys (store/interaction_keys.py) -----------------------------------
    def find_interaction_key(self, key: str) -> tuple[str, str] | None:
        item = self._db.get_item(
            TableName=self._table, Key=self._interaction_key(key), ConsistentRead=True
        ).get("Item")
        return (item["person_id"]["S"], item["interaction_id"]["S"]) if item else None

    def claim_interaction_key(self, key: str, person_id: str, interaction_id: str) -> tuple[str, str]:
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **self._interaction_key(key),
                    "person_id": _s(person_id),
                    "interaction_id": _s(interaction_id),
                },
                ConditionExpression="attribute_not_exists(pk) OR interaction_id = :i",
                ExpressionAttributeValues={":i": _s(interaction_id)},
            )
            return person_id, interaction_id
        except self._db.exceptions.ConditionalCheckFailedException:
            found = self.find_interaction_key(key)
            return found if found else self.claim_interaction_key(key, person_id, interaction_id)

    def delete_interaction_key(self, key: str, interaction_id: str) -> None:
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=self._interaction_key(key),
                ConditionExpression="interaction_id = :i",
                ExpressionAttributeValues={":i": _s(interaction_id)},
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            pass

    def _interaction_key(self, key: str) -> dict[str, dict[str, str]]:
        return self._key(f"K#{hashlib.sha256(key.encode()).hexdigest()[:40]}", "K")

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


KEY_ATTRIBUTES = {"pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"}


def _start_key(position: Any) -> dict[str, Any] | None:
    """A LastEvaluatedKey as handed out: key attributes only, each a DynamoDB S or N value."""
    if position is None:
        return None
    ok = (
        isinstance(position, dict)
        and position
        and all(
            name in KEY_ATTRIBUTES
            and isinstance(v, dict)
            and len(v) == 1
            and next(iter(v)) in ("S", "N")
            and isinstance(next(iter(v.values())), str)
            for name, v in position.items()
        )
    )
    if not ok:
        raise BadCursor("not a cursor this store handed out")
    return position
