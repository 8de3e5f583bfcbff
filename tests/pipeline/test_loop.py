"""Closed loop: each rule, the per-person cap, do-not-contact, and what the CRM receives."""

import json
from datetime import timedelta
from pathlib import Path

from chalicelib.schema import utcnow
from tests.support.admin import body_of, hubspot_change, send_hubspot, send_survey, send_tweet, survey, tweet

DEVON = "devon.park@example.com"
DEVON_HUBSPOT_ID = "98765432188"  # the detractor fixture's hidden field


def _actions(hub, person_id=None):
    return hub.store.actions_page(person_id, 100)[0]


def _person_by_email(hub, email):
    from chalicelib.schema import IdentityRef

    person_id = hub.store.find_identities([IdentityRef(namespace="email", value=email)])[f"email#{email}"]
    return hub.store.get_person(person_id)


def _crm_lines(person_id):
    path = Path("crm-sync.jsonl")  # the crm-file sink writes into the test's temp folder
    return (
        [
            json.loads(line)
            for line in path.read_text().splitlines()
            if json.loads(line)["person_id"] == person_id
        ]
        if path.exists()
        else []
    )


def detractor(token=None):
    return survey("typeform/form_response_detractor.json", token=token)


def test_detractor_answer_opens_a_follow_up_task_the_crm_receives(client, workers, hub, admin_headers):
    send_survey(client, detractor())
    workers.drain()
    devon = _person_by_email(hub, DEVON)
    [action] = _actions(hub, devon.person_id)
    assert (action.kind, action.rule, action.reason) == (
        "follow_up_task",
        "detractor_answer",
        "NPS 3 (detractor)",
    )
    assert devon.latest_action == action
    listed = body_of(client, "/admin/actions", admin_headers)["items"]
    assert [a["action_id"] for a in listed] == [action.action_id]
    written = _crm_lines(devon.person_id)[-1]["properties"]
    assert (
        written["latest_action"] == "follow_up_task"
        and written["latest_action_reason"] == "NPS 3 (detractor)"
    )


def test_angry_public_post_opens_a_follow_up_task(client, workers, hub):
    send_tweet(
        client,
        tweet(
            "@ChorusDemo this is the worst sync tool ever, terrible and broken. I hate it.",
            tweet_id="2125244096205470001",
        ),
    )
    workers.drain()
    actions = _actions(hub)
    [action] = [a for a in actions if a.rule == "angry_public_post"]
    assert action.kind == "follow_up_task" and "public mention on x with sentiment -0." in action.reason
    # the neutral question from devon_ops in the same delivery fires nothing
    assert len(actions) == 1


def test_promoter_who_posted_publicly_becomes_an_advocate_candidate(client, workers, hub):
    send_survey(client, survey())  # NPS 9, no public post yet: nothing
    workers.drain()
    maya = _person_by_email(hub, "maya.chen@example.com")
    assert _actions(hub, maya.person_id) == []
    send_tweet(client, tweet())  # a positive post naming @ChorusDemo
    workers.drain()
    [action] = _actions(hub, maya.person_id)
    assert (action.kind, action.rule) == ("advocate_candidate", "promoter_posted_publicly")
    assert action.reason == "promoter (NPS 9) with 1 positive public mention(s)"
    assert _crm_lines(maya.person_id)[-1]["properties"]["latest_action"] == "advocate_candidate"


def test_at_most_one_action_per_person_and_rule_per_cooldown(client, workers, hub):
    send_survey(client, detractor())
    send_survey(client, detractor(token="devon-2"))
    workers.drain()
    devon = _person_by_email(hub, DEVON)
    assert len(_actions(hub, devon.person_id)) == 1  # the second answer is capped
    hub.clock = lambda: utcnow() + timedelta(days=31)  # the default cooldown is 30 days
    send_survey(client, detractor(token="devon-3"))
    workers.drain()
    assert len(_actions(hub, devon.person_id)) == 2


def test_cooldown_and_rules_are_configurable(client, workers, hub):
    loop = hub.settings.loop
    loop.detractor_answer.cooldown_days = 0
    send_survey(client, detractor())
    workers.drain()
    send_survey(client, detractor(token="devon-2"))
    workers.drain()
    devon = _person_by_email(hub, DEVON)
    assert len(_actions(hub, devon.person_id)) == 2
    loop.detractor_answer.enabled = False
    send_survey(client, detractor(token="devon-3"))
    workers.drain()
    assert len(_actions(hub, devon.person_id)) == 2


def test_the_same_moment_twice_is_one_action(client, workers, hub):
    from chalicelib.pipeline.loop import apply_loop

    send_survey(client, detractor())
    workers.drain()
    devon = _person_by_email(hub, DEVON)
    [interaction] = hub.store.person_interactions(devon.person_id)
    timeline = [interaction]
    again = apply_loop(hub, devon, interaction, timeline, utcnow())  # a redelivery after a crash
    assert [a.action_id for a in again] == [devon.latest_action.action_id]
    assert len(_actions(hub, devon.person_id)) == 1


def test_do_not_contact_from_the_crm_stops_the_loop_and_clears(client, workers, hub):
    now_ms = int(utcnow().timestamp() * 1000)
    send_hubspot(client, hubspot_change(DEVON_HUBSPOT_ID, "hs_email_optout", "true", 9001, now_ms - 60_000))
    workers.drain()
    send_survey(client, detractor())
    workers.drain()
    devon = _person_by_email(hub, DEVON)
    assert devon.do_not_contact is True and _actions(hub, devon.person_id) == []
    # an older "false" arriving late does not clear it; a newer one does
    send_hubspot(client, hubspot_change(DEVON_HUBSPOT_ID, "hs_email_optout", "false", 9002, now_ms - 120_000))
    workers.drain()
    assert _person_by_email(hub, DEVON).do_not_contact is True
    send_hubspot(client, hubspot_change(DEVON_HUBSPOT_ID, "hs_email_optout", "false", 9003, now_ms))
    workers.drain()
    assert _person_by_email(hub, DEVON).do_not_contact is False
    send_survey(client, detractor(token="devon-2"))
    workers.drain()
    assert [a.kind for a in _actions(hub, devon.person_id)] == ["follow_up_task"]


def test_moments_are_pure_and_skip_crm_updates_and_deletions():
    from chalicelib.config.models import LoopSettings
    from chalicelib.pipeline.loop import moments
    from chalicelib.schema import Interaction, Person, Sentiment

    now = utcnow()
    person = Person(person_id="p", created_at=now, updated_at=now)
    base = dict(
        interaction_id="i", connector_id="c", provider="x", external_id="e", event_id="e", occurred_at=now
    )
    angry = Interaction(kind="post", sentiment=Sentiment(score=-0.8, label="negative"), **base)
    settings = LoopSettings()
    assert [m[0] for m in moments(person, angry, settings)] == ["angry_public_post"]
    assert moments(person, angry.model_copy(update={"public": False}), settings) == []
    assert moments(person, angry.model_copy(update={"deleted": True}), settings) == []
    assert (
        moments(
            person, angry.model_copy(update={"sentiment": Sentiment(score=-0.4, label="negative")}), settings
        )
        == []
    )
    passive = Interaction(kind="survey_response", nps=7, **base)
    assert moments(person, passive, settings) == []
    assert [m[0] for m in moments(person, passive.model_copy(update={"nps": 6}), settings)] == [
        "detractor_answer"
    ]
