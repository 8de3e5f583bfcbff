"""Create claims with leases, shared budgets, the loop's cap, de-dup markers with a TTL."""

from __future__ import annotations

from datetime import timedelta

from tests.store.factories import T0


def test_a_create_claim_is_leased(store):
    taken, crm_id, until = store.claim_create("k", T0, 30)
    assert (taken, crm_id, until) == (True, None, T0.timestamp() + 30)
    assert store.claim_create("k", T0 + timedelta(seconds=10), 30) == (False, None, T0.timestamp() + 30)
    store.record_created("k", "crm-7")
    assert store.claim_create("k", T0 + timedelta(seconds=20), 30) == (False, "crm-7", T0.timestamp() + 30)
    # the lease ran out: someone else may take it (and what the old holder recorded goes with it)
    later = T0 + timedelta(seconds=31)
    assert store.claim_create("k", later, 30) == (True, None, later.timestamp() + 30)
    assert store.claim_create("other", T0, 30)[0] is True


def test_budget_windows_count_up_to_the_limit(store):
    assert [store.budget_take("hubspot", 100, 3, 2_000_000_000) for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert store.budget_take("hubspot", 101, 3, 2_000_000_000) is True  # a new window
    assert store.budget_blocked_until("hubspot") == 0.0
    store.budget_block("hubspot", 1_800_000_100.5)
    store.budget_block("hubspot", 1_800_000_050.0)  # a shorter Retry-After does not unblock
    assert store.budget_blocked_until("hubspot") == 1_800_000_100.5
    store.budget_block("hubspot", 1_800_000_200.0)
    assert store.budget_blocked_until("hubspot") == 1_800_000_200.0


def test_the_loop_cap(store):
    assert store.claim_loop_slot("p1", "detractor", "ix1", T0, 3600) is True
    assert store.claim_loop_slot("p1", "detractor", "ix1", T0 + timedelta(seconds=5), 3600) is True  # a retry
    assert store.claim_loop_slot("p1", "detractor", "ix2", T0 + timedelta(seconds=10), 3600) is False
    assert store.claim_loop_slot("p1", "promoter", "ix2", T0 + timedelta(seconds=10), 3600) is True
    assert store.claim_loop_slot("p1", "detractor", "ix2", T0 + timedelta(seconds=3700), 3600) is True


def test_dedup_markers_expire_with_their_ttl(store, clock):
    assert not store.is_processed("typeform-nps", "e1")
    store.mark_processed("typeform-nps", "e1", ttl_days=1)
    assert store.is_processed("typeform-nps", "e1") and not store.is_processed("x-brand", "e1")
    clock.now += 86400 + 1
    assert not store.is_processed("typeform-nps", "e1")  # expired, whether or not swept yet
    store.mark_processed("typeform-nps", "e1", ttl_days=1)  # processed again: a fresh marker
    assert store.is_processed("typeform-nps", "e1")
    store.delete_processed_markers([("typeform-nps", "e1")])
    assert not store.is_processed("typeform-nps", "e1")


def test_shared_oauth_tokens_are_kept_sealed_until_replaced(store):
    assert store.get_token("k") is None
    store.put_token("k", "sealed-1", 1_800_000_000.5)
    assert store.get_token("k") == ("sealed-1", 1_800_000_000.5)
    store.put_token("k", "sealed-2", 1_800_003_600.0)
    assert store.get_token("k") == ("sealed-2", 1_800_003_600.0) and store.get_token("other") is None
