"""DeliveryLog contract: every backend keeps the same records, steps, pages and erasure scrubs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.store.delivery_log import DeliveryRecord
from chalicelib.store.records import BadCursor

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def record(n: int, connector: str = "typeform-nps", status: str = "refused") -> DeliveryRecord:
    return DeliveryRecord(
        delivery_id=f"{n:032x}",
        connector_id=connector,
        received_at=T0 + timedelta(seconds=n),
        status=status,
        http_status=401 if status == "refused" else 200,
        reason="bad_signature" if status == "refused" else None,
        size=10 + n,
        headers={"typeform-signature": "[redacted]"},
        chain=[{"status": status}],
    )


def test_put_get_and_newest_first_pages(store):
    store.put_deliveries([record(n) for n in range(5)], ttl_days=7)
    got = store.get_delivery(f"{3:032x}")
    assert (got.reason, got.size, got.headers, got.chain) == (
        "bad_signature",
        13,
        record(3).headers,
        [{"status": "refused"}],
    )
    seen, cursor = [], None
    while True:
        page, cursor = store.deliveries_page(None, None, 2, cursor)
        seen += [r.delivery_id for r in page]
        if cursor is None:
            break
    assert seen == [f"{n:032x}" for n in (4, 3, 2, 1, 0)]
    assert store.get_delivery("f" * 32) is None


def test_steps_create_then_append_and_set_the_status(store):
    accepted = record(7, status="queued")
    accepted.chain = []
    store.record_delivery_step(accepted, {"status": "retrying", "attempt": 1}, 7)
    accepted.body = '{"a": 1}'
    store.record_delivery_step(accepted, {"status": "processed", "interactions": []}, 7)
    got = store.get_delivery(accepted.delivery_id)
    assert got.status == "processed" and [s["status"] for s in got.chain] == ["retrying", "processed"]
    assert got.body == '{"a": 1}' and got.http_status == 200


def test_filters_by_connector_and_status(store):
    store.put_deliveries([record(1), record(2, "x-brand"), record(3, status="answered")], 7)
    processed = record(4, status="queued")
    store.record_delivery_step(processed, {"status": "processed"}, 7)

    def ids(connector, statuses):
        found, cursor = [], None
        while True:
            page, cursor = store.deliveries_page(connector, statuses, 1, cursor)
            found += [int(r.delivery_id, 16) for r in page]
            if cursor is None:
                return found

    assert ids("typeform-nps", None) == [4, 3, 1]
    assert ids(None, ("refused",)) == [2, 1]
    assert ids("typeform-nps", ("processed", "answered")) == [4, 3]


def test_cursors_are_bound_to_their_list(store):
    store.put_deliveries([record(n) for n in range(3)], 7)
    _, cursor = store.deliveries_page(None, None, 1, None)
    with pytest.raises(BadCursor):
        store.deliveries_page("x-brand", None, 1, cursor)
    with pytest.raises(BadCursor):
        store.deliveries_page(None, ("refused",), 1, cursor)
    with pytest.raises(BadCursor):
        store.deliveries_page(None, None, 1, "bm90LWEtY3Vyc29y")


def test_erasure_scrubs_the_linked_bodies_only(store):
    mine, other = record(1, status="queued"), record(2, status="queued")
    mine.body = other.body = "maya@example.com said hi"
    store.record_delivery_step(mine, {"status": "processed"}, 7)
    store.record_delivery_step(other, {"status": "processed"}, 7)
    store.link_delivery_to_people(mine.delivery_id, ["maya", "maya"], 7)
    assert store.scrub_deliveries_about("maya") == 1
    assert store.get_delivery(mine.delivery_id).body is None
    assert store.get_delivery(other.delivery_id).body == other.body
    assert store.scrub_deliveries_about("maya") == 0
