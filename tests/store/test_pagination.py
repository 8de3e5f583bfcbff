"""Every listing pages with opaque cursors: pages join up to the whole ordered list, and a cursor
is refused (BadCursor) by any listing it was not handed out for."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from chalicelib.store import BadCursor, DeadLetter
from tests.store.factories import T0, action, interaction, person


def follow(fetch, limit: int) -> tuple[list, int]:
    items, cursor, pages = [], None, 0
    while True:
        page, cursor = fetch(limit, cursor)
        assert cursor is None or isinstance(cursor, str)
        items += page
        pages += 1
        if cursor is None:
            return items, pages
        assert pages < 50


def test_advocates_pages(store):
    for i in range(7):
        store.put_person(person(f"p{i}", score=float(i * 10 - 20)), None)
    store.put_person(person("tie", score=10.0), None)  # the same score as p3: both listed once
    people, pages = follow(lambda n, c: store.advocates_page(-100, n, c), 3)
    scores = [p.advocate.score for p in people]
    assert scores == sorted(scores, reverse=True) and len(people) == 8 and pages >= 3
    assert len({p.person_id for p in people}) == 8
    assert [p.person_id for p in follow(lambda n, c: store.advocates_page(25, n, c), 1)[0]] == ["p6", "p5"]


def test_interaction_pages_by_connector_and_by_person(store):
    for i in range(5):
        store.put_interaction(interaction(f"ix{i}", "p-one" if i % 2 else "p-two", minutes=i))
    by_connector, _ = follow(lambda n, c: store.connector_interactions_page("typeform-nps", n, c), 2)
    assert [i.interaction_id for i in by_connector] == ["ix4", "ix3", "ix2", "ix1", "ix0"]
    mine, _ = follow(lambda n, c: store.person_interactions_page("p-two", n, c), 1)
    assert [i.interaction_id for i in mine] == ["ix0", "ix2", "ix4"]


def test_dead_letter_pages_oldest_first(store):
    for i in range(5):
        store.put_dead_letter(
            DeadLetter(f"d{i}", "ingest", "typeform-nps", "bad", {"n": i}, T0 + timedelta(seconds=10 - i))
        )
    letters, _ = follow(lambda n, c: store.dead_letters_page("typeform-nps", n, c), 2)
    assert [d.dead_letter_id for d in letters] == ["d4", "d3", "d2", "d1", "d0"]
    assert letters[0].message == {"n": 4} and letters[0].created_at == T0 + timedelta(seconds=6)
    assert store.dead_letters_page("x-brand", 10) == ([], None)


def test_action_pages_all_newest_first_and_one_persons(store):
    for i in range(5):
        assert store.put_action(action(f"a{i}", "p1" if i < 3 else "p2", minutes=i))
    assert not store.put_action(action("a0", "p1"))  # stored once
    every, _ = follow(lambda n, c: store.actions_page(None, n, c), 2)
    assert [a.action_id for a in every] == ["a4", "a3", "a2", "a1", "a0"]
    mine, _ = follow(lambda n, c: store.actions_page("p1", n, c), 2)
    assert [a.action_id for a in mine] == ["a0", "a1", "a2"]


def _forge(position) -> str:
    raw = json.dumps({"q": "advocates:0.0", "k": position}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_cursors_are_checked(store):
    for i in range(3):
        store.put_person(person(f"p{i}", score=float(i)), None)
        store.put_interaction(interaction(f"ix{i}", "p1", minutes=i))
    _, advocates_cursor = store.advocates_page(0, 1)
    _, other_connector = store.connector_interactions_page("typeform-nps", 1)
    assert advocates_cursor and other_connector
    with pytest.raises(BadCursor):
        store.connector_interactions_page("typeform-nps", 1, advocates_cursor)  # another list's
    with pytest.raises(BadCursor):
        store.connector_interactions_page("x-brand", 1, other_connector)  # another connector's
    with pytest.raises(BadCursor):
        store.advocates_page(1, 1, advocates_cursor)  # another filter's
    for junk in ("!!!", "WzFd", "", _forge({"pk": {"B": "x"}}), _forge(["a"]), _forge([True, "x"])):
        with pytest.raises(BadCursor):
            store.advocates_page(0, 1, junk)
