"""Admin API breadth: every route refuses without the token; every list pages with `next`."""

from datetime import timedelta

import pytest

from chalicelib.schema import Action, Interaction, Person, SyncJob, utcnow
from chalicelib.store.base import DeadLetter
from tests.support.admin import body_of, follow, send_survey, survey
from tests.support.senders import typeform_headers

ROUTES = [
    ("GET", "/admin/people?email=maya.chen@example.com"),
    ("GET", "/admin/people/p1"),
    ("DELETE", "/admin/people/p1"),
    ("GET", "/admin/people/p1/export"),
    ("GET", "/admin/interactions?connector_id=typeform-nps"),
    ("GET", "/admin/advocates"),
    ("GET", "/admin/actions"),
    ("GET", "/admin/connectors"),
    ("GET", "/admin/dead-letters"),
    ("POST", "/admin/dead-letters/replay"),
    ("POST", "/admin/merges/m1/undo"),
]


@pytest.mark.parametrize("method,path", ROUTES)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic YTpi"}])
def test_every_admin_route_is_401_without_the_token(client, hub, method, path, headers):
    hub.store.put_person(Person(person_id="p1", created_at=utcnow(), updated_at=utcnow()), None)
    response = getattr(client.http, method.lower())(path, headers=headers)
    assert response.status_code == 401
    assert hub.store.get_person("p1") is not None  # the DELETE did nothing


def test_bad_cursors_are_400(client, admin_headers):
    for path in (
        "/admin/advocates?next=!!!",
        "/admin/advocates?next=WzFd",  # "[1]": not an object
        "/admin/connectors?next=eyJhZnRlciI6MX0",
        "/admin/dead-letters?next=eyJjIjoibm9wZSJ9",
    ):
        assert client.http.get(path, headers=admin_headers).status_code == 400, path


def _person(hub, i: int, score: float = 0.0) -> Person:
    now = utcnow()
    person = Person(person_id=f"p{i:02d}", created_at=now, updated_at=now, email=f"user{i}@example.com")
    person.advocate.score = score
    if hub is not None:
        hub.store.put_person(person, None)
    return person


def test_advocates_page_highest_score_first(client, hub, admin_headers):
    for i in range(7):
        _person(hub, i, score=float(i * 10 - 20))
    first = body_of(client, "/admin/advocates?min_score=-100&limit=3", admin_headers)
    assert len(first["items"]) == 3 and first["next"]
    items, pages = follow(client, "/admin/advocates?min_score=-100&limit=3", admin_headers)
    scores = [p["advocate"]["score"] for p in items]
    assert scores == sorted(scores, reverse=True) and len(scores) == 7 and pages == 3
    assert [
        p["person_id"] for p in body_of(client, "/admin/advocates?min_score=25", admin_headers)["items"]
    ] == ["p06", "p05"]
    # an advocates cursor given to the interactions list: 400, not 500
    wrong = client.http.get(
        f"/admin/interactions?connector_id=typeform-nps&next={first['next']}", headers=admin_headers
    )
    assert wrong.status_code == 400


def test_interactions_page_by_connector_and_by_person(client, hub, admin_headers):
    base = utcnow() - timedelta(days=1)
    for i in range(5):
        hub.store.put_interaction(
            Interaction(
                interaction_id=f"ix{i}",
                connector_id="typeform-nps",
                provider="typeform",
                kind="survey_response",
                external_id=f"r{i}",
                event_id=f"e{i}",
                occurred_at=base + timedelta(minutes=i),
                person_id="p-one",
            )
        )
    items, pages = follow(client, "/admin/interactions?connector_id=typeform-nps&limit=2", admin_headers)
    assert [i["interaction_id"] for i in items] == ["ix4", "ix3", "ix2", "ix1", "ix0"] and pages == 3
    mine, _ = follow(client, "/admin/interactions?person_id=p-one&limit=2", admin_headers)
    assert sorted(i["interaction_id"] for i in mine) == [f"ix{i}" for i in range(5)]


def test_people_search_by_email_and_handle(client, workers, admin_headers):
    send_survey(client, survey())
    workers.drain()
    [by_email] = body_of(client, "/admin/people?email=%20Maya.Chen@Example.com", admin_headers)["items"]
    assert by_email["email"] == "maya.chen@example.com"
    [by_handle] = body_of(client, "/admin/people?handle=x:@Maya_Builds", admin_headers)["items"]
    assert by_handle["person_id"] == by_email["person_id"]
    [by_id] = body_of(client, "/admin/people?identity=hubspot:98765432101", admin_headers)["items"]
    assert by_id["person_id"] == by_email["person_id"]
    assert body_of(client, "/admin/people?email=nobody@example.com", admin_headers) == {
        "items": [],
        "next": None,
    }
    for bad in (
        "/admin/people",
        "/admin/people?handle=maya_builds",
        "/admin/people?email=not-an-email",
        "/admin/people?identity=BAD NS:1",
    ):
        assert client.http.get(bad, headers=admin_headers).status_code == 400, bad


def test_connectors_show_last_delivery_and_errors_by_reason(client, hub, workers, admin_headers):
    body = survey()
    assert (
        client.http.post(
            "/webhooks/typeform-nps", body=body, headers={"Content-Type": "application/json"}
        ).status_code
        == 401
    )
    assert (
        client.http.post(
            "/webhooks/typeform-nps", body=body, headers=typeform_headers(body, secret="wrong")
        ).status_code
        == 401
    )
    send_survey(client, body)
    before = body_of(client, "/admin/connectors?limit=500", admin_headers)
    typeform = next(c for c in before["items"] if c["id"] == "typeform-nps")
    assert typeform["last_delivery_at"] is None  # set by processing, not by ingest
    workers.drain()
    items, pages = follow(client, "/admin/connectors?limit=4", admin_headers)
    assert [c["id"] for c in items] == sorted(hub.connectors.connectors) and pages > 1
    typeform = next(c for c in items if c["id"] == "typeform-nps")
    assert typeform["provider"] == "typeform" and typeform["direction"] == "source"
    assert typeform["errors"] == {"missing_signature": 1, "bad_signature": 1}
    assert typeform["last_delivery_at"].startswith(str(utcnow().year))
    sink = next(c for c in items if c["id"] == "crm-file")
    assert sink["direction"] == "sink" and sink["last_delivery_at"] is None and sink["errors"] == {}


def test_dead_letters_page_across_connectors_and_replay(client, hub, admin_headers):
    now = utcnow()
    for i in range(3):
        job = SyncJob(person_id=f"p{i}", connector_id="crm-file", requested_at=now).model_dump(mode="json")
        hub.store.put_dead_letter(
            DeadLetter(f"s{i}", "sync", "crm-file", "HTTP 400", job, now + timedelta(seconds=i))
        )
    for i in range(2):
        hub.store.put_dead_letter(
            DeadLetter(f"u{i}", "ingest", "unknown", "unreadable", {"raw": "x"}, now + timedelta(seconds=i))
        )
    items, pages = follow(client, "/admin/dead-letters?limit=2", admin_headers)
    assert [d["dead_letter_id"] for d in items] == ["s0", "s1", "s2", "u0", "u1"] and pages >= 3
    assert all("raw" not in d["message"] for d in items)
    only, _ = follow(client, "/admin/dead-letters?connector_id=unknown&limit=1", admin_headers)
    assert [d["dead_letter_id"] for d in only] == ["u0", "u1"]
    replayed = body_of(
        client, "/admin/dead-letters/replay?connector_id=crm-file", admin_headers, method="POST"
    )
    assert replayed == {"replayed": 3, "kept": 0}
    assert body_of(client, "/admin/dead-letters?connector_id=crm-file", admin_headers)["items"] == []


def test_actions_page_newest_first(client, hub, admin_headers):
    now = utcnow()
    for i in range(5):
        hub.store.put_action(
            Action(
                action_id=f"a{i}",
                kind="follow_up_task",
                rule="detractor_answer",
                person_id=f"p{i % 2}",
                interaction_id=f"ix{i}",
                connector_id="typeform-nps",
                reason="NPS 2 (detractor)",
                created_at=now + timedelta(minutes=i),
            )
        )
    items, pages = follow(client, "/admin/actions?limit=2", admin_headers)
    assert [a["action_id"] for a in items] == ["a4", "a3", "a2", "a1", "a0"] and pages == 3
    mine, _ = follow(client, "/admin/actions?person_id=p1&limit=1", admin_headers)
    assert sorted(a["action_id"] for a in mine) == ["a1", "a3"]


def test_limit_is_checked(client, admin_headers):
    for path in (
        "/admin/advocates?limit=0",
        "/admin/connectors?limit=501",
        "/admin/actions?limit=x",
        "/admin/dead-letters?limit=-1",
    ):
        assert client.http.get(path, headers=admin_headers).status_code == 400, path
    assert client.http.get("/admin/people/nobody/export", headers=admin_headers).status_code == 404
    assert client.http.delete("/admin/people/nobody", headers=admin_headers).status_code == 404


def test_undo_a_merge(client, workers, hub, admin_headers):
    from chalicelib.pipeline.merge import merge_people

    send_survey(client, survey())
    send_survey(client, survey("typeform/form_response_detractor.json"))
    workers.drain()
    a, b = (
        hub.store.find_identities([_ref(e)])[f"email#{e}"]
        for e in ("maya.chen@example.com", "devon.park@example.com")
    )
    record = merge_people(hub, a, b, reason="test")
    assert client.http.post("/admin/merges/nope/undo", headers=admin_headers).status_code == 404
    undone = body_of(client, f"/admin/merges/{record.merge_id}/undo", admin_headers, method="POST")
    assert undone["status"] == "undone" and hub.store.get_person(b).merged_into is None


def _ref(email):
    from chalicelib.schema import IdentityRef

    return IdentityRef(namespace="email", value=email)
