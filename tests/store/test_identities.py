"""Identity claims: put-if-absent, all-or-nothing for a delivery's set, conditional moves."""

from __future__ import annotations

from tests.store.factories import link, ref


def test_a_claim_keeps_the_first_owner(store):
    assert store.claim_identity(ref("maya@example.com"), "p1") == "p1"
    assert store.claim_identity(ref("maya@example.com"), "p2") == "p1"
    assert store.find_identities([ref("maya@example.com"), ref("nobody@example.com")]) == {
        "email#maya@example.com": "p1"
    }


def test_links_carry_their_confidence_and_plain_claims_count_as_certain(store):
    assert store.claim_identity_link(link("a@example.com", confidence=0.6), "p1") == "p1"
    store.claim_identity(ref("b@example.com"), "p1")
    assert store.find_identity_links([ref("a@example.com"), ref("b@example.com")]) == {
        "email#a@example.com": ("p1", 0.6),
        "email#b@example.com": ("p1", 1.0),
    }


def test_claiming_a_set_is_all_or_nothing(store):
    store.claim_identity(ref("taken@example.com"), "p-old")
    links = [link("new1@example.com"), link("taken@example.com"), link("new2@example.com")]
    assert store.claim_identity_links(links, "p-new") is False
    # nothing of the failed set stays claimed, the owned one keeps its owner
    assert store.find_identities([ref(f"{v}@example.com") for v in ("new1", "new2", "taken")]) == {
        "email#taken@example.com": "p-old"
    }
    assert store.claim_identity_links([link("new1@example.com"), link("new2@example.com")], "p-new") is True
    assert set(store.find_identities([ref("new1@example.com"), ref("new2@example.com")]).values()) == {
        "p-new"
    }


def test_a_single_link_set_is_claimed_alone(store):
    assert store.claim_identity_links([link("one@example.com")], "p1") is True
    assert store.claim_identity_links([link("one@example.com")], "p2") is False


def test_repoint_and_delete_only_from_the_expected_owner(store):
    store.claim_identity(ref("x@example.com"), "p1")
    assert store.repoint_identity(ref("x@example.com"), "p2", "p3") is False
    assert store.repoint_identity(ref("x@example.com"), "p1", "p2") is True
    assert store.find_identities([ref("x@example.com")]) == {"email#x@example.com": "p2"}
    assert store.delete_identity("email#x@example.com", "p1") is False
    assert store.delete_identity("email#x@example.com", "p2") is True
    assert store.find_identities([ref("x@example.com")]) == {}


def test_claiming_a_set_inside_a_unit_of_work_is_still_all_or_nothing(store):
    store.claim_identity(ref("taken@example.com"), "p-old")
    with store.atomic():
        assert (
            store.claim_identity_links([link("new1@example.com"), link("taken@example.com")], "p-new")
            is False
        )
        assert store.claim_identity(ref("other@example.com"), "p-new") == "p-new"
    assert store.find_identities([ref("new1@example.com"), ref("other@example.com")]) == {
        "email#other@example.com": "p-new"
    }
