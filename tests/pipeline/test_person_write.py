"""update_person: the one optimistic-lock loop every profile write goes through, on a real store."""

from datetime import UTC, datetime

import pytest

from chalicelib.pipeline.person_write import PERSON_WRITE_ATTEMPTS, update_person
from chalicelib.schema import Person
from chalicelib.store.base import VersionConflict
from chalicelib.store.sqlite import SqliteStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    backend = SqliteStore(tmp_path / "store.sqlite3")
    yield backend
    backend.close()


def _person(store, person_id="p1", name="Ada"):
    person = Person(person_id=person_id, display_name=name, created_at=T0, updated_at=T0)
    store.put_person(person, None)


def test_a_conflicting_write_is_redone_on_the_newer_version(store):
    _person(store)
    calls = []

    def rename(person):
        calls.append(person.display_name)
        if len(calls) == 1:  # another worker writes between our read and our write
            other, version = store.get_person_versioned("p1")
            other.email = "ada@example.com"
            store.put_person(other, version)
        person.display_name = "Ada L."
        return person

    before, after = update_person(store, "p1", rename)
    stored = store.get_person("p1")
    assert len(calls) == 2
    assert stored.display_name == "Ada L." and stored.email == "ada@example.com"  # both writes kept
    assert before.display_name == "Ada" and after.display_name == "Ada L."


def test_change_gets_a_copy_and_none_writes_nothing(store):
    _person(store)
    _, version = store.get_person_versioned("p1")

    def look(person):
        person.display_name = "changed in the copy only"
        return None

    before, after = update_person(store, "p1", look)
    assert after is None and before.display_name == "Ada"
    assert store.get_person_versioned("p1") == (store.get_person("p1"), version)
    assert store.get_person("p1").display_name == "Ada"


def test_a_missing_person_is_created_when_change_makes_one(store):
    before, after = update_person(
        store, "p2", lambda p: p or Person(person_id="p2", created_at=T0, updated_at=T0)
    )
    assert before is None and store.get_person("p2") == after


def test_it_gives_up_after_the_budget_with_version_conflict(store):
    _person(store)
    calls = []

    def always_beaten(person):
        calls.append(1)
        other, version = store.get_person_versioned("p1")
        store.put_person(other, version)
        person.display_name = "never written"
        return person

    with pytest.raises(VersionConflict):
        update_person(store, "p1", always_beaten)
    assert len(calls) == PERSON_WRITE_ATTEMPTS
    assert store.get_person("p1").display_name == "Ada"
