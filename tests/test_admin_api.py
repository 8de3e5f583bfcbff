"""Admin API: bearer token required; interactions, advocates and people read back."""

import json

import pytest

from tests.support.senders import fixture_bytes, typeform_headers


@pytest.mark.parametrize(
    "path", ["/admin/interactions?connector_id=typeform-nps", "/admin/advocates", "/admin/people/p1"]
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic YTpi"}])
def test_admin_routes_refuse_without_the_token(client, path, headers):
    assert client.http.get(path, headers=headers).status_code == 401


def test_admin_reads_back_what_was_delivered(client, workers, admin_headers):
    for name in ("typeform/form_response.json", "typeform/form_response_detractor.json"):
        body = fixture_bytes(name)
        client.http.post("/webhooks/typeform-nps", body=body, headers=typeform_headers(body))
    workers.drain()
    items = json.loads(
        client.http.get("/admin/interactions?connector_id=typeform-nps", headers=admin_headers).body
    )["items"]
    assert len(items) == 2
    advocates = json.loads(client.http.get("/admin/advocates?min_score=0", headers=admin_headers).body)[
        "items"
    ]
    assert [a["email"] for a in advocates] == ["maya.chen@example.com"]  # the detractor scores below 0
    every = json.loads(client.http.get("/admin/advocates?min_score=-100", headers=admin_headers).body)[
        "items"
    ]
    assert [a["advocate"]["score"] for a in every] == sorted(
        (a["advocate"]["score"] for a in every), reverse=True
    )
    person_id = advocates[0]["person_id"]
    person = json.loads(client.http.get(f"/admin/people/{person_id}", headers=admin_headers).body)
    assert {c["name"] for c in person["advocate"]["components"]} >= {"nps", "sentiment", "recency"}
    timeline = json.loads(
        client.http.get(f"/admin/interactions?person_id={person_id}", headers=admin_headers).body
    )
    assert [i["person_id"] for i in timeline["items"]] == [person_id]


def test_admin_bad_queries_are_400_and_unknown_person_404(client, admin_headers):
    assert client.http.get("/admin/interactions", headers=admin_headers).status_code == 400
    assert (
        client.http.get("/admin/interactions?connector_id=x&limit=0", headers=admin_headers).status_code
        == 400
    )
    assert client.http.get("/admin/advocates?min_score=high", headers=admin_headers).status_code == 400
    assert client.http.get("/admin/people/nobody", headers=admin_headers).status_code == 404
