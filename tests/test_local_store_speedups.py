"""The local store's moto speed-ups change cost, never answers: the same Queries (key, range
conditions, order, paging, index) give the same pages with and without them."""
import boto3
import pytest
from moto.dynamodb.models.table import Table

from chalicelib.runtime.local_children import speed_up_moto_query
from chalicelib.runtime.resources import ResourceNames

QUERIES = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P#2"}}},
    {"KeyConditionExpression": "pk = :p AND begins_with(sk, :i)",
     "ExpressionAttributeValues": {":p": {"S": "P#3"}, ":i": {"S": "I#"}}},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P#1"}},
     "ScanIndexForward": False, "Limit": 3},
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "P#nobody"}}},
    {"IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :c",
     "ExpressionAttributeValues": {":c": {"S": "C#typeform"}}},
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
            client.put_item(TableName=table, Item={
                "pk": {"S": f"P#{person}"}, "sk": {"S": f"I#{n:03d}"},
                "gsi1pk": {"S": "C#typeform"}, "gsi1sk": {"S": f"{person}-{n}"}})
    before = [all_pages(client, q) for q in QUERIES]
    speed_up_moto_query()
    after = [all_pages(client, q) for q in QUERIES]
    assert after == before
    assert len(before[0][0]) == 8 and len(before[1][0]) == 7 and len(before[2]) == 3
    assert before[3] == [[]] and len(before[4][0]) == 35
