"""Privacy: everything under a person, deleted at once; erasure hashes; nothing left in the files."""

from __future__ import annotations

from chalicelib.store import SyncState
from tests.store.factories import T0, action, interaction, person, ref


def _hold_a_person(store, email: str = "maya.erased@example.com") -> None:
    store.put_person(person("p1", email=email), None)
    for version in range(2, 5):  # profiles are rewritten: older copies must not linger either
        store.put_person(person("p1", email=email, score=float(version)), version - 1)
    store.put_interaction(interaction("ix1", "p1", text=f"I love it - {email}"))
    store.put_sync_state(SyncState("p1", "hubspot", crm_id="51", written={"email": email}))
    store.put_action(action("a1", "p1"))
    store.claim_loop_slot("p1", "detractor", "ix1", T0, 60)
    store.claim_identity(ref(email), "p1")
    store.put_person(person("p2", email="someone.else@example.com"), None)


def test_person_items_hold_everything_by_kind(store):
    _hold_a_person(store)
    items = store.person_items("p1")
    assert items.person.email == "maya.erased@example.com"
    assert [i.interaction_id for i in items.interactions] == ["ix1"]
    assert [s.crm_id for s in items.sync_states] == ["51"]
    assert [a.action_id for a in items.actions] == ["a1"]
    assert items.other == [
        {"kind": "loop_cap", "rule": "detractor", "last_at": T0.timestamp(), "interaction_id": "ix1"}
    ]
    assert items.count == 5
    assert store.person_items("nobody").count == 0


def test_delete_person_items_leaves_others(store):
    _hold_a_person(store)
    assert store.delete_person_items("p1") == 5
    assert store.person_items("p1").count == 0
    assert store.get_person("p2") is not None
    assert store.claim_loop_slot("p1", "detractor", "ix9", T0, 60) is True  # the cap went too


def test_erasure_markers_are_salted_hashes(store):
    salt = store.erasure_salt()
    assert len(salt) == 64 and store.erasure_salt() == salt
    assert not store.any_erased(["h1", "h2"]) and not store.any_erased([])
    store.put_erasures(["h1"], T0)
    assert store.any_erased(["h0", "h1"])


def test_sqlite_files_keep_nothing_of_an_erased_person(tmp_path):
    """secure_delete zeroes the rows; forget_deleted moves the zeroed pages into the file and
    truncates the WAL that held older page versions."""
    from chalicelib.store.sqlite import SqliteStore

    path = tmp_path / "store.sqlite3"
    store = SqliteStore(path)
    _hold_a_person(store)
    store.delete_person_items("p1")
    assert store.delete_identity(ref("maya.erased@example.com").key, "p1")
    before = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"maya.erased" in before  # the WAL still holds the older pages until forgotten
    assert store.forget_deleted() is True
    after = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"maya.erased" not in after
    assert b"someone.else" in after  # the rest is kept
    store.close()
