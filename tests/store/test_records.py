"""Sync states, dead letters, connector counters and merge records."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.store import DeadLetter, SyncState
from tests.store.factories import T0, merge


def test_sync_states_round_trip(store):
    state = SyncState("p1", "hubspot", record_hash="h", crm_id="51", written={"email": "a@b.c"}, synced_at=T0)
    store.put_sync_state(state)
    store.put_sync_state(SyncState("p1", "zoho", skipped_reason="no email"))
    found = store.get_sync_states([("p1", "hubspot"), ("p1", "zoho"), ("p2", "hubspot"), ("p1", "hubspot")])
    assert found == {
        ("p1", "hubspot"): state,
        ("p1", "zoho"): SyncState("p1", "zoho", skipped_reason="no email"),
    }
    store.delete_sync_state("p1", "hubspot")
    assert list(store.get_sync_states([("p1", "hubspot"), ("p1", "zoho")])) == [("p1", "zoho")]


def test_dead_letters_kept_until_deleted(store):
    letter = DeadLetter("d1", "sync", "hubspot", "HTTP 400", {"person_id": "p1"}, T0, attempts=5)
    store.put_dead_letter(letter)
    assert store.dead_letters("hubspot", 10) == [letter]
    store.delete_dead_letter(letter)
    assert store.dead_letters("hubspot", 10) == []


def test_counters_and_the_newest_delivery(store):
    for reason in ("bad_signature", "bad_signature", "skipped_echo"):
        store.count_event("typeform-nps", reason)
    assert store.event_counts("typeform-nps") == {"bad_signature": 2, "skipped_echo": 1}
    assert store.event_counts("x-brand") == {}
    store.touch_connector("typeform-nps", T0)
    store.touch_connector("typeform-nps", T0 - timedelta(hours=1))  # a replay: not newer
    stats = store.connector_stats(["typeform-nps", "x-brand"])
    assert stats["typeform-nps"] == {
        "counts": {"bad_signature": 2, "skipped_echo": 1},
        "last_delivery_at": "2027-01-15T12:00:00.000000Z",
    }
    assert stats["x-brand"] == {"counts": {}, "last_delivery_at": None}


def test_merge_records(store):
    record = merge("m1")
    store.put_merge(record)
    assert store.get_merge("m1") == record
    store.delete_merge("m1")
    assert store.get_merge("m1") is None
