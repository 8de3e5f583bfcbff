"""A person's timeline: later versions win, reads are ordered."""

from __future__ import annotations

from datetime import timedelta

from tests.store.factories import T0, interaction


def test_a_later_version_wins_and_an_older_one_is_refused(store):
    assert store.put_interaction(interaction("ix1", "p1", text="first", updated_at=T0 + timedelta(hours=2)))
    assert not store.put_interaction(
        interaction("ix1", "p1", text="older", updated_at=T0 + timedelta(hours=1))
    )
    assert store.get_interaction("p1", "ix1").text == "first"
    assert store.put_interaction(interaction("ix1", "p1", text="newer", updated_at=T0 + timedelta(hours=3)))
    assert store.get_interaction("p1", "ix1").text == "newer"
    assert store.put_interaction(interaction("ix1", "p1", text="same", updated_at=T0 + timedelta(hours=3)))


def test_timelines_oldest_first_and_connector_lists_newest_first(store):
    for n, minutes in enumerate([30, 10, 20]):
        store.put_interaction(interaction(f"ix{n}", "p1", minutes=minutes))
    store.put_interaction(interaction("other", "p2", minutes=5, connector="x-brand"))
    assert [i.interaction_id for i in store.person_interactions("p1")] == ["ix1", "ix2", "ix0"]
    assert [i.interaction_id for i in store.connector_interactions("typeform-nps", 2)] == ["ix0", "ix2"]
    store.delete_interaction("p1", "ix0")
    assert store.get_interaction("p1", "ix0") is None
    assert [i.interaction_id for i in store.connector_interactions("typeform-nps", 10)] == ["ix2", "ix1"]
