"""The embedded store's moto patches. The speed-ups change cost, never answers: the same
Queries (key, range conditions, order, paging, index) give the same pages with and without
them. Write isolation makes transactions all-or-nothing without undoing other writers."""

import threading

import boto3
import pytest
from moto.dynamodb import models as moto_dynamodb
from moto.dynamodb.models.table import Table

from chalicelib.runtime.moto_patches import speed_up_moto_query
from chalicelib.runtime.resources import ResourceNames

QUERIES = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P#2"}}},
    {
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :i)",
        "ExpressionAttributeValues": {":p": {"S": "P#3"}, ":i": {"S": "I#"}},
    },
    {
        "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "P#1"}},
        "ScanIndexForward": False,
        "Limit": 3,
    },
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P#nobody"}}},
    {
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :c",
        "ExpressionAttributeValues": {":c": {"S": "C#typeform"}},
    },
]


@pytest.fixture
def restore_moto():
    saved = Table.query, Table.all_items
    yield
    Table.query, Table.all_items = saved


def all_pages(client, query):
    pages, kwargs = [], dict(query)
    while True:
        reply = client.query(TableName=ResourceNames.from_env().table, **kwargs)
        pages.append(reply["Items"])
        if "LastEvaluatedKey" not in reply or "Limit" not in query:
            return pages
        kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]


def test_queries_answer_the_same_with_the_partition_speed_up(aws, restore_moto):
    client, table = boto3.client("dynamodb"), ResourceNames.from_env().table
    for person in range(5):
        client.put_item(TableName=table, Item={"pk": {"S": f"P#{person}"}, "sk": {"S": "PERSON"}})
        for n in range(7):
            client.put_item(
                TableName=table,
                Item={
                    "pk": {"S": f"P#{person}"},
                    "sk": {"S": f"I#{n:03d}"},
                    "gsi1pk": {"S": "C#typeform"},
                    "gsi1sk": {"S": f"{person}-{n}"},
                },
            )
    before = [all_pages(client, q) for q in QUERIES]
    speed_up_moto_query()
    after = [all_pages(client, q) for q in QUERIES]
    assert after == before
    assert len(before[0][0]) == 8 and len(before[1][0]) == 7 and len(before[2]) == 3
    assert before[3] == [[]] and len(before[4][0]) == 35


# ---- write isolation (installed for every test by the aws fixture) ------------------------------
def _claims(*keys: str, owner: str) -> list[dict]:
    return [
        {
            "Put": {
                "TableName": ResourceNames.from_env().table,
                "ConditionExpression": "attribute_not_exists(pk)",
                "Item": {"pk": {"S": f"ID#{key}"}, "sk": {"S": "ID"}, "person_id": {"S": owner}},
            }
        }
        for key in keys
    ]


def _owners(client) -> dict[str, str]:
    items = client.scan(TableName=ResourceNames.from_env().table)["Items"]  # a test may scan
    return {i["pk"]["S"][3:]: i["person_id"]["S"] for i in items if i["sk"]["S"] == "ID"}


def test_a_transaction_with_a_failed_condition_writes_nothing_and_says_which_failed(aws, monkeypatch):
    client = boto3.client("dynamodb")
    client.transact_write_items(TransactItems=_claims("x#1", owner="p1"))
    deepcopy = moto_dynamodb.copy.deepcopy

    def no_table_copies(value, *args):
        assert not isinstance(value, Table), "copied a whole table"
        return deepcopy(value, *args)

    monkeypatch.setattr(moto_dynamodb.copy, "deepcopy", no_table_copies)
    with pytest.raises(client.exceptions.TransactionCanceledException) as failed:
        client.transact_write_items(TransactItems=_claims("email#a", "x#1", owner="p2"))
    reasons = [r["Code"] for r in failed.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert _owners(client) == {"x#1": "p1"}
    client.transact_write_items(TransactItems=_claims("email#a", "x#2", owner="p2"))
    assert _owners(client) == {"x#1": "p1", "email#a": "p2", "x#2": "p2"}


def test_failed_transactions_never_undo_what_other_writers_stored_meanwhile(aws):
    # Unpatched, moto restores a copy of the whole table when a transaction fails, wiping out
    # the items other threads put while it ran.
    client, table = boto3.client("dynamodb"), ResourceNames.from_env().table
    client.put_item(
        TableName=table, Item={"pk": {"S": "ID#taken"}, "sk": {"S": "ID"}, "person_id": {"S": "p0"}}
    )
    for batch in range(40):  # a table big enough for moto's copy to take a while
        client.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {"pk": {"S": f"P#{batch}-{n}"}, "sk": {"S": "PROFILE"}}}}
                    for n in range(25)
                ]
            }
        )

    def keep_failing() -> None:
        for n in range(20):
            with pytest.raises(client.exceptions.TransactionCanceledException):
                client.transact_write_items(TransactItems=_claims(f"free#{n}", "taken", owner="loser"))

    def keep_writing(writer: int) -> None:
        for n in range(60):
            client.put_item(
                TableName=table,
                Item={"pk": {"S": f"ID#w{writer}-{n}"}, "sk": {"S": "ID"}, "person_id": {"S": f"p{writer}"}},
            )

    errors: list[BaseException] = []

    def run(work, *args) -> None:
        try:
            work(*args)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(keep_failing,)),
        *(threading.Thread(target=run, args=(keep_writing, w)) for w in range(3)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    owners = _owners(client)
    assert len(owners) == 1 + 3 * 60
    assert "loser" not in owners.values()
