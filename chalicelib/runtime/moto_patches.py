"""Where the embedded store (moto) is patched: two speed-ups for the local hub and one fix of
fidelity that the local hub and the tests both need.

Written against moto 5.2 (pinned in requirements-dev.txt); with other internals each patch
logs a warning and moto runs as is. Never imported on Lambda (moto is not shipped).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("chorus_hub.local")


def speed_up_moto_dispatch() -> None:
    """moto's server lists its own package directory (a listdir and ~200 isdir calls) on every
    request to route it; the list cannot change while the process runs, so it is read once."""
    from moto import backends

    if not callable(getattr(backends, "list_of_moto_modules", None)):
        return
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules


def speed_up_moto_query() -> None:
    """moto answers a Query on the table's own key by sorting every item of the table and then
    keeping the one partition asked for: O(table) per call, and the workers Query a person's
    timeline for every interaction. While such a Query runs, its thread sees only that
    partition (the result, its order and its paging are unchanged). Written against moto
    5.2 (pinned in requirements-dev.txt); with other internals moto runs as is."""
    from moto.dynamodb.models.table import Table

    if not (callable(getattr(Table, "query", None)) and callable(getattr(Table, "all_items", None))):
        log.warning("moto internals differ from 5.2: the local store runs without the Query speed-up")
        return
    import inspect

    query, all_items = Table.query, Table.all_items
    signature = inspect.signature(query)
    scope = threading.local()

    def partition_query(*args: Any, **kwargs: Any):
        called = signature.bind(*args, **kwargs).arguments
        if called.get("index_name") is not None or called.get("hash_key") is None:
            return query(*args, **kwargs)
        scope.partition = (called["self"], called["hash_key"])
        try:
            return query(*args, **kwargs)
        finally:
            scope.partition = None

    def scoped_all_items(self: Any) -> list:
        table, hash_key = getattr(scope, "partition", None) or (None, None)
        if table is not self:
            return all_items(self)
        partition = self.items.get(hash_key)
        if partition is None:
            return []
        if not self.range_key_attr:
            return [partition]
        return sorted(partition.values(), key=lambda item: item.range_key)

    Table.query, Table.all_items = partition_query, scoped_all_items


def isolate_moto_writes() -> None:
    """Make moto's DynamoDB writes atomic the way DynamoDB's are. Idempotent.

    moto checks a write's condition and then writes, with nothing between the two held, and
    runs TransactWriteItems by deep-copying every table it touches (once per item), writing
    item by item and, on a failed condition, putting the copies back. Under threads (the local
    store serves requests on threads; tests run workers on threads) a failed transaction so
    wipes out what other writers stored meanwhile, and each copy costs ~220 ms at 10,000 items.
    Here every write holds one lock, and a transaction of Puts and ConditionChecks checks all
    its conditions first, then writes, with no copy to restore.
    """
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_chorus_isolated", False):
        return
    if not all(callable(getattr(DynamoDBBackend, name, None)) for name in (*_WRITES, "transact_write_items")):
        log.warning("moto internals differ from 5.2: the embedded store runs without write isolation")
        return
    lock = threading.RLock()
    for name in _WRITES:
        setattr(DynamoDBBackend, name, _holding(lock, getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = _holding(
        lock, _checked_first(DynamoDBBackend.transact_write_items)
    )
    DynamoDBBackend._chorus_isolated = True


_WRITES = ("put_item", "update_item", "delete_item")


def _holding(lock: threading.RLock, method):
    def locked(*args: Any, **kwargs: Any):
        with lock:
            return method(*args, **kwargs)

    locked.__wrapped__ = method
    return locked


def _checked_first(transact):
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import TransactionCanceledException

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        ops = [next(iter(item.items())) for item in transact_items]
        if len(ops) > 100 or any(
            len(item) != 1 or kind not in ("Put", "ConditionCheck")
            for item, (kind, _) in zip(transact_items, ops)
        ):
            return transact(self, transact_items)  # moto's own way (and its own errors)
        keys, reasons = set(), []
        for kind, op in ops:
            table = self.get_table(op["TableName"])
            key = (
                op["Key"]
                if kind == "ConditionCheck"
                else {attr: op["Item"][attr] for attr in (table.hash_key_attr, table.range_key_attr) if attr}
            )
            identity = (op["TableName"], repr(sorted(key.items())))
            if identity in keys:
                return transact(self, transact_items)  # moto raises the duplicate-item error
            keys.add(identity)
            condition = op.get("ConditionExpression")
            held = condition is None or get_filter_expression(
                condition,
                op.get("ExpressionAttributeNames"),
                op.get("ExpressionAttributeValues"),
            ).expr(self.get_item(op["TableName"], key))
            reasons.append(
                (None, None, None)
                if held
                else ("ConditionalCheckFailed", "The conditional request failed", None)
            )
        if any(code for code, _, _ in reasons):
            raise TransactionCanceledException(reasons)
        for kind, op in ops:
            if kind == "Put":
                self.put_item(op["TableName"], op["Item"])

    return transact_write_items
