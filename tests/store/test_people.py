"""Optimistic person versions, advocates by score, the decay schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.store import VersionConflict
from tests.store.factories import T0, person


def test_versions_are_optimistic(store):
    assert store.put_person(person("p1", email="a@example.com"), None) == 1
    with pytest.raises(VersionConflict):
        store.put_person(person("p1"), None)  # must be new
    found, version = store.get_person_versioned("p1")
    assert found.email == "a@example.com" and version == 1
    assert store.put_person(person("p1", email="b@example.com"), 1) == 2
    with pytest.raises(VersionConflict):
        store.put_person(person("p1", email="stale@example.com"), 1)
    assert store.get_person("p1").email == "b@example.com"
    assert store.get_person_versioned("nobody") == (None, None)
    with pytest.raises(VersionConflict):
        store.put_person(person("nobody"), 3)  # an update of someone who does not exist


def test_advocates_highest_first_and_merged_people_leave_the_ranking(store):
    for i, score in enumerate([5.0, 42.5, -3.0, 17.25]):
        store.put_person(person(f"p{i}", score=score), None)
    assert [p.person_id for p in store.advocates(0, 10)] == ["p1", "p3", "p0"]
    assert [p.person_id for p in store.advocates(10, 1)] == ["p1"]
    gone = person("p1", score=42.5, merged_into="p3")
    store.put_person(gone, 1)
    assert [p.person_id for p in store.advocates(0, 10)] == ["p3", "p0"]


def test_people_due_for_decay(store):
    due_soon, due_later = person("soon"), person("later")
    due_soon.advocate.decay_due_at = T0 + timedelta(days=1)
    due_later.advocate.decay_due_at = T0 + timedelta(days=30)
    for p in (due_soon, due_later, person("never")):
        store.put_person(p, None)
    assert store.people_due_for_decay(T0 + timedelta(days=2), 10) == ["soon"]
    assert sorted(store.people_due_for_decay(T0 + timedelta(days=31), 10)) == ["later", "soon"]
    merged = person("soon", merged_into="later")
    merged.advocate.decay_due_at = T0
    store.put_person(merged, 1)
    assert store.people_due_for_decay(T0 + timedelta(days=31), 10) == ["later"]
