"""The advocate score: each component against hand-computed points, the interactions behind
each component, the explanation on GET /admin/people/{id}, and decay on a schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.config.models import ScoringSettings
from chalicelib.pipeline.decay import decay_due_people, rescore_person
from chalicelib.pipeline.scoring import EXPLAIN_LIMIT, advocate_score, person_stats
from chalicelib.schema import Author, Interaction, Person, PersonStats, Sentiment

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DEFAULTS = ScoringSettings()  # weights nps 30, sentiment 20, reach 15, frequency 10, recency 10, advocacy 15


def _points(stats: PersonStats, name: str, now: datetime = T0) -> float:
    return next(c.points for c in advocate_score(stats, DEFAULTS, now).components if c.name == name)


# Expected points worked out by hand from the formulas in pipeline/scoring.py:
#   nps = 30 x (+1 promoter 9-10, 0 passive 7-8, -1 detractor 0-6); sentiment = 20 x average;
#   reach = 15 x min(1, log10(1 + followers) / log10(1 + 100000));
#   frequency = 10 x min(1, interactions / 10); recency = 10 x 0.5 ** (days / 30);
#   public_advocacy = 15 x min(1, positive public brand mentions / 5)
@pytest.mark.parametrize(
    "component, stats, expected",
    [
        ("nps", {"latest_nps": 10}, 30.0),
        ("nps", {"latest_nps": 9}, 30.0),
        ("nps", {"latest_nps": 8}, 0.0),
        ("nps", {"latest_nps": 6}, -30.0),
        ("nps", {}, 0.0),
        # a rating counts as its share of its scale on NPS's 0-10: 5/5 -> 10, 4/5 -> 8, 3/5 -> 6
        ("nps", {"latest_rating": 1.0, "latest_rating_at": T0}, 30.0),
        ("nps", {"latest_rating": 0.8, "latest_rating_at": T0}, 0.0),
        ("nps", {"latest_rating": 0.6, "latest_rating_at": T0}, -30.0),
        ("sentiment", {"sentiment_avg": 0.5}, 10.0),
        ("sentiment", {"sentiment_avg": -0.25}, -5.0),
        ("reach", {"max_followers": 999}, 9.0),  # 15 x 3 / 5.0000043 = 8.99999
        ("reach", {"max_followers": 9}, 3.0),  # 15 x 1 / 5.0000043 = 2.99999
        ("reach", {"max_followers": 5_000_000}, 15.0),  # saturated
        ("frequency", {"interaction_count": 5}, 5.0),
        ("frequency", {"interaction_count": 25}, 10.0),
        ("recency", {"last_interaction_at": T0}, 10.0),
        ("recency", {"last_interaction_at": T0 - timedelta(days=30)}, 5.0),
        ("recency", {"last_interaction_at": T0 - timedelta(days=60)}, 2.5),  # weight x 0.25
        ("recency", {}, 0.0),
        ("public_advocacy", {"public_positive_mentions": 2}, 6.0),
        ("public_advocacy", {"public_positive_mentions": 9}, 15.0),
    ],
)
def test_each_component_by_hand(component, stats, expected):
    assert _points(PersonStats(**stats), component) == pytest.approx(expected, abs=0.005)


def test_score_is_the_sum_and_picks_the_tier():
    stats = PersonStats(
        latest_nps=9,
        sentiment_avg=0.5,
        max_followers=999,
        interaction_count=5,
        last_interaction_at=T0 - timedelta(days=60),
        public_positive_mentions=2,
    )
    score = advocate_score(stats, DEFAULTS, T0)
    assert score.score == pytest.approx(30 + 10 + 9 + 5 + 2.5 + 6)  # 62.5
    assert score.tier == "advocate"  # >= 55
    assert advocate_score(PersonStats(latest_nps=3), DEFAULTS, T0).tier == "at_risk"  # -30 < -25


def _said(n: int, **fields) -> Interaction:
    defaults = dict(
        interaction_id=f"i{n:02d}",
        connector_id="x-brand",
        provider="x",
        kind="post",
        external_id=str(n),
        event_id=str(n),
        occurred_at=T0 + timedelta(hours=n),
    )
    return Interaction(**{**defaults, **fields})


def _review(n: int, stars: float, scale: float = 5) -> Interaction:
    from chalicelib.schema import Rating

    return _said(n, kind="review", provider="app_store_reviews", rating=Rating(value=stars, scale=scale))


@pytest.mark.parametrize(
    "timeline, points, behind",
    [
        ([_review(1, 5)], 30.0, "i01"),  # a five-star review alone: a promoter
        ([_said(1, kind="survey_response", nps=10), _review(2, 2)], -30.0, "i02"),  # a newer 2/5 wins
        ([_review(1, 1), _said(2, kind="survey_response", nps=9)], 30.0, "i02"),  # a newer NPS wins
        ([_review(1, 8, scale=10)], 0.0, "i01"),  # 8 of 10: passive, on its own scale
    ],
)
def test_a_reviews_stars_count_like_a_stated_score(timeline, points, behind):
    stats = person_stats(timeline)
    [nps] = [c for c in advocate_score(stats, DEFAULTS, T0).components if c.name == "nps"]
    assert nps.points == pytest.approx(points)
    assert nps.inputs["interaction_ids"] == [behind]


def test_a_deleted_review_no_longer_counts():
    deleted = _review(1, 5).model_copy(update={"deleted": True})
    stats = person_stats([deleted])
    assert stats.latest_rating is None and _points(stats, "nps") == 0.0


def test_components_name_the_interactions_behind_them():
    positive = Sentiment(score=0.8, label="positive")
    timeline = [_said(n, sentiment=Sentiment(score=0.1, label="neutral")) for n in range(12)]
    timeline[3] = _said(3, kind="survey_response", nps=10, provider="typeform", connector_id="typeform-nps")
    timeline[5] = _said(5, sentiment=positive, brand_matches=["Chorus"], author=Author(followers=5000))
    timeline[7] = _said(
        7, sentiment=positive, brand_matches=["Chorus"], public=False
    )  # a DM-like private post
    timeline.append(_said(20, kind="crm_update"))  # not something they said
    stats = person_stats(timeline)
    score = advocate_score(stats, DEFAULTS, T0 + timedelta(days=1))
    ids = {c.name: c.inputs["interaction_ids"] for c in score.components}
    assert ids["nps"] == ["i03"]
    assert ids["reach"] == ["i05"]
    assert ids["public_advocacy"] == ["i05"]
    assert ids["recency"] == ["i11"]
    assert len(ids["frequency"]) == EXPLAIN_LIMIT and ids["frequency"][0] == "i11"  # newest first, capped
    assert "i03" not in ids["sentiment"] and ids["sentiment"][0] == "i11"


def test_admin_person_explains_the_score(client, hub, admin_headers):
    from chalicelib.pipeline.process import ProcessOutcome, apply_interaction

    survey = Interaction(
        interaction_id="r1",
        connector_id="typeform-nps",
        provider="typeform",
        kind="survey_response",
        external_id="r1",
        event_id="e1",
        occurred_at=T0,
        nps=10,
        text="Chorus is wonderful, I love it",
        author=Author(email="ada@example.com"),
    )
    apply_interaction(hub, hub.connectors.get("typeform-nps"), survey, ProcessOutcome())
    reply = client.http.get(f"/admin/people/{survey.person_id}", headers=admin_headers)
    assert reply.status_code == 200
    explanation = reply.json_body["explanation"]
    components = {c["name"]: c for c in explanation["components"]}
    assert set(components) == {"nps", "sentiment", "reach", "frequency", "recency", "public_advocacy"}
    assert components["nps"]["points"] == 30.0 and components["nps"]["inputs"]["category"] == "promoter"
    assert [i["interaction_id"] for i in components["nps"]["interactions"]] == ["r1"]
    assert components["nps"]["interactions"][0]["nps"] == 10
    assert components["sentiment"]["interactions"][0]["sentiment"]["label"] == "positive"
    assert explanation["score"] == sum(c["points"] for c in explanation["components"])
    assert reply.json_body["links"][0]["evidence"] == "same_email"
    assert client.http.get(f"/admin/people/{survey.person_id}").status_code == 401


# ---- decay ---------------------------------------------------------------------------------------
def _store_person(hub, stats: PersonStats, email: str = "decay@example.com") -> str:
    person = Person(
        person_id="p-decay",
        created_at=T0,
        updated_at=T0,
        email=email,
        stats=stats,
        advocate=advocate_score(stats, hub.settings.scoring, T0),
    )
    hub.store.put_person(person, None)
    return person.person_id


@pytest.fixture
def sent_jobs(hub, monkeypatch):
    jobs: list[dict] = []
    monkeypatch.setattr(hub.sync_queue, "send_many", lambda batch: jobs.extend(batch))
    return jobs


def test_sixty_days_after_the_last_interaction_recency_is_a_quarter(hub, sent_jobs):
    person_id = _store_person(hub, PersonStats(interaction_count=1, last_interaction_at=T0))
    hub.clock = lambda: T0 + timedelta(days=60)
    assert decay_due_people(hub).rescored == [person_id]
    recency = next(c for c in hub.store.get_person(person_id).advocate.components if c.name == "recency")
    assert recency.points == pytest.approx(hub.settings.scoring.weights.recency * 0.25)
    assert recency.inputs["days_since_last"] == 60.0


def test_a_tier_crossing_is_synced_and_a_wobble_is_not(hub, sent_jobs):
    hub.settings.scoring.sync_score_delta = 50  # only a tier change is worth a sync here
    # nps 30 + sentiment 20 x -0.1 + frequency 1 = 29 points besides recency; promoter needs 30:
    # the person leaves the promoter tier when recency drops under 1 point, after
    # 30 x log2(10 / 1) = 99.66 days.
    stats = PersonStats(latest_nps=10, sentiment_avg=-0.1, interaction_count=1, last_interaction_at=T0)
    person_id = _store_person(hub, stats)
    stored = hub.store.get_person(person_id).advocate
    assert (stored.score, stored.tier) == (39.0, "promoter")
    assert abs((stored.decay_due_at - T0).total_seconds() / 86400 - 99.66) < 0.01

    hub.clock = lambda: T0 + timedelta(days=50)
    assert decay_due_people(hub).rescored == []  # not due: nothing read but the index entry
    outcome = rescore_person(hub, person_id)  # rescore anyway: 39 -> 32.15, still a promoter
    assert outcome.rescored == [person_id] and outcome.sync_jobs == 0 and sent_jobs == []
    assert hub.store.get_person(person_id).advocate.tier == "promoter"

    hub.clock = lambda: T0 + timedelta(days=100)
    outcome = decay_due_people(hub)
    assert outcome.rescored == [person_id] and outcome.tier_changes == 1
    assert hub.store.get_person(person_id).advocate.tier == "neutral"
    assert outcome.sync_jobs == len(hub.connectors.sinks()) > 0
    assert {j["person_id"] for j in sent_jobs} == {person_id}


def test_decay_stops_once_recency_has_settled(hub):
    person_id = _store_person(hub, PersonStats(interaction_count=1, last_interaction_at=T0))
    hub.clock = lambda: T0 + timedelta(days=30 * 12)  # 10 x 0.5**12 = 0.0024 points: rounds to zero
    decay_due_people(hub)
    assert hub.store.get_person(person_id).advocate.decay_due_at is None
    hub.clock = lambda: T0 + timedelta(days=30 * 50)
    assert decay_due_people(hub).rescored == []


def test_the_schedule_handler_runs_a_decay_pass(client, hub):
    person_id = _store_person(
        hub, PersonStats(interaction_count=1, last_interaction_at=T0 - timedelta(days=60))
    )
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    reply = client.lambda_.invoke("decay_scores", event)
    assert reply.payload["rescored"] == 1
    assert hub.store.get_person(person_id).advocate.computed_at > T0


def test_cli_people_decay_and_unmerge(hub, capsys):
    from chalicelib.cli import main
    from chalicelib.pipeline.merge import merge_people
    from chalicelib.pipeline.process import ProcessOutcome, apply_interaction

    ids = []
    for n, email in enumerate(["a@example.com", "b@example.com"]):
        survey = Interaction(
            interaction_id=f"r{n}",
            connector_id="typeform-nps",
            provider="typeform",
            kind="survey_response",
            external_id=f"r{n}",
            event_id=f"e{n}",
            occurred_at=T0,
            author=Author(email=email),
        )
        apply_interaction(hub, hub.connectors.get("typeform-nps"), survey, ProcessOutcome())
        ids.append(survey.person_id)
    record = merge_people(hub, ids[0], ids[1])
    assert main(["people", "unmerge", record.merge_id]) == 0
    assert "undone" in capsys.readouterr().out
    assert hub.store.get_person(ids[1]).merged_into is None
    assert main(["people", "unmerge", "nope"]) == 1
    assert main(["people", "decay"]) == 0
    assert "rescored" in capsys.readouterr().out
    assert main(["people", "unmerge"]) == 2
