"""`chorus crm setup`: HubSpot properties created through its API; others print manual steps."""

import json

import responses

from tests.support.paths import SINK_CONNECTORS

PROPS = "https://api.hubapi.com/crm/v3/properties/contacts"


@responses.activate
def test_hubspot_setup_creates_group_and_properties_and_tolerates_existing(aws, use_connectors, capsys):
    from chalicelib.cli import main

    use_connectors(SINK_CONNECTORS)
    responses.add(
        responses.POST, f"{PROPS}/groups", status=201, json={"name": "chorus", "label": "Chorus advocacy"}
    )
    responses.add(
        responses.POST,
        PROPS,
        status=409,
        json={
            "status": "error",
            "category": "OBJECT_ALREADY_EXISTS",
            "message": "Property named 'chorus_advocate_score' already exists.",
        },
    )
    responses.add(responses.POST, PROPS, status=201, json={"name": "x"})
    assert main(["crm", "setup", "hubspot", "--config-dir", str(SINK_CONNECTORS)]) == 0
    created = [json.loads(c.request.body) for c in responses.calls if c.request.url == PROPS]
    assert {p["name"] for p in created} >= {
        "chorus_advocate_score",
        "chorus_advocate_tier",
        "chorus_latest_nps",
    }
    score = next(p for p in created if p["name"] == "chorus_advocate_score")
    assert (score["type"], score["fieldType"], score["groupName"]) == ("number", "number", "chorus")
    out = capsys.readouterr().out
    assert "chorus_advocate_score: already exists" in out and "chorus_advocate_tier: created" in out


def test_setup_refuses_a_source_only_connector(hub, capsys):
    from chalicelib.cli import main

    assert main(["crm", "setup", "typeform-nps", "--config-dir", str(SINK_CONNECTORS)]) == 1
