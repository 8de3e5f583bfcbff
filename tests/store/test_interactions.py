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


def test_a_threads_items_are_found_whoever_wrote_them(store):
    store.put_interaction(
        interaction("a", "p1", minutes=2, connector="zendesk-support", thread_id="ticket:1")
    )
    store.put_interaction(
        interaction("b", "p2", minutes=1, connector="zendesk-support", thread_id="ticket:1")
    )
    store.put_interaction(interaction("c", "p1", connector="zendesk-support", thread_id="ticket:2"))
    store.put_interaction(interaction("d", "p3", connector="other-desk", thread_id="ticket:1"))
    store.put_interaction(interaction("e", "p1", connector="zendesk-support"))
    found = store.thread_interactions("zendesk-support", "ticket:1")
    assert [(i.interaction_id, i.person_id) for i in found] == [("b", "p2"), ("a", "p1")]
    assert store.thread_interactions("zendesk-support", "ticket:9") == []
