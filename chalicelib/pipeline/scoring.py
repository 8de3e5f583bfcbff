"""The advocate score: a sum of named components, each stored with its inputs.

score = nps + sentiment + reach + frequency + recency + public_advocacy, each a weight
(settings.yaml) times a factor in [-1, 1] or [0, 1]. The tier is the first threshold the
score reaches. Everything is recomputed from the person's timeline, so it is idempotent.

Explainable: each component's inputs carry `interaction_ids`, the latest interactions behind
it (at most EXPLAIN_LIMIT, newest first), kept in PersonStats.evidence so a decay run can
rescore from the stored stats without reading the timeline. `decay_due_at` says when recency
decay will next cross a tier boundary or move the score by `sync_score_delta` (or settle at
zero points): the decay schedule (pipeline/decay.py) rescores only the people due.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from ..config.models import ScoringSettings
from ..schema import AdvocateScore, Interaction, Person, PersonStats, ScoreComponent

BEHAVIOUR_KINDS = {"survey_response", "post", "comment", "mention", "repost", "direct_message", "review"}
PUBLIC_KINDS = {"post", "comment", "mention", "review"}
NPS_FACTOR = {"promoter": 1.0, "passive": 0.0, "detractor": -1.0}
EXPLAIN_LIMIT = 10
SETTLED_POINTS = 0.005  # recency below this rounds to 0.00 points: nothing left to decay
MIN_DECAY_INTERVAL = timedelta(hours=1)


def _latest_ids(interactions: list[Interaction]) -> list[str]:
    return [i.interaction_id for i in reversed(interactions[-EXPLAIN_LIMIT:])]


def _latest_stated(with_nps: list[Interaction], with_rating: list[Interaction]) -> list[Interaction]:
    """The interaction behind the score's `nps` component: the newer of the latest NPS answer
    and the latest rating (an NPS answer wins a tie)."""
    nps, rating = with_nps[-1:], with_rating[-1:]
    if rating and (not nps or rating[0].occurred_at > nps[0].occurred_at):
        return rating
    return nps


def stated_score(stats: PersonStats) -> tuple[float | None, str | None]:
    """The person's latest stated score on NPS's 0-10 scale and where it came from: their NPS
    answer, or a newer rating as its share of its own scale times 10 (5 of 5 stars is 10, a
    promoter; 4 of 5 is 8, passive; 3 of 5 is 6, a detractor)."""
    rating_newer = stats.latest_rating is not None and (
        stats.latest_nps_at is None
        or (stats.latest_rating_at is not None and stats.latest_rating_at > stats.latest_nps_at)
    )
    if rating_newer:
        assert stats.latest_rating is not None
        return round(stats.latest_rating * 10, 2), "rating"
    if stats.latest_nps is not None:
        return float(stats.latest_nps), "nps"
    return None, None


def person_stats(interactions: list[Interaction]) -> PersonStats:
    said = sorted(
        (i for i in interactions if i.kind in BEHAVIOUR_KINDS and not i.deleted), key=lambda i: i.occurred_at
    )
    stats = PersonStats(interaction_count=len(said))
    if not said:
        return stats
    stats.first_interaction_at, stats.last_interaction_at = said[0].occurred_at, said[-1].occurred_at
    with_sentiment = [i for i in said if i.sentiment is not None]
    scored = [i.sentiment.score for i in said if i.sentiment is not None]
    stats.sentiment_avg = round(sum(scored) / len(scored), 4) if scored else None
    with_nps = [i for i in said if i.nps is not None]
    if with_nps:
        stats.latest_nps, stats.latest_nps_at = with_nps[-1].nps, with_nps[-1].occurred_at
    with_rating = [i for i in said if i.rating is not None and i.nps is None]
    if with_rating:
        rated = with_rating[-1]
        assert rated.rating is not None
        stats.latest_rating = round(min(1.0, max(0.0, rated.rating.value / rated.rating.scale)), 4)
        stats.latest_rating_at = rated.occurred_at
    stated = _latest_stated(with_nps, with_rating)
    with_followers = [i for i in said if i.author.followers is not None]
    followers = [i.author.followers for i in said if i.author.followers is not None]
    stats.max_followers = max(followers) if followers else None
    public = [i for i in said if i.kind in PUBLIC_KINDS and i.public]
    advocacy = [
        i
        for i in public
        if i.sentiment and i.sentiment.label == "positive" and (i.brand_matches or i.kind == "mention")
    ]
    stats.public_positive_mentions = len(advocacy)
    urls = [i.url for i in public if i.url]
    stats.last_mention_url = urls[-1] if urls else None
    widest = [i for i in with_followers if i.author.followers == stats.max_followers]
    stats.evidence = {
        "nps": _latest_ids(stated),
        "sentiment": _latest_ids(with_sentiment),
        "reach": _latest_ids(widest[-1:]),
        "frequency": _latest_ids(said),
        "recency": _latest_ids(said[-1:]),
        "public_advocacy": _latest_ids(advocacy),
    }
    return stats


def advocate_score(stats: PersonStats, settings: ScoringSettings, now: datetime) -> AdvocateScore:
    w = settings.weights
    components: list[ScoreComponent] = []

    category = None
    stated, source = stated_score(stats)
    if stated is not None:
        category = "promoter" if stated >= 9 else "passive" if stated >= 7 else "detractor"
    inputs: dict = {"latest_nps": stats.latest_nps, "category": category}
    if source == "rating":
        inputs.update(latest_rating=stats.latest_rating, from_rating=True)
    components.append(
        ScoreComponent(
            name="nps",
            weight=w.nps,
            points=w.nps * NPS_FACTOR.get(category or "", 0.0),
            inputs=inputs,
        )
    )

    components.append(
        ScoreComponent(
            name="sentiment",
            weight=w.sentiment,
            points=w.sentiment * (stats.sentiment_avg or 0.0),
            inputs={"average": stats.sentiment_avg},
        )
    )

    followers = stats.max_followers or 0
    reach = min(1.0, math.log10(1 + followers) / math.log10(1 + settings.reach_saturation_followers))
    components.append(
        ScoreComponent(
            name="reach", weight=w.reach, points=w.reach * reach, inputs={"followers": stats.max_followers}
        )
    )

    frequency = min(1.0, stats.interaction_count / settings.frequency_saturation)
    components.append(
        ScoreComponent(
            name="frequency",
            weight=w.frequency,
            points=w.frequency * frequency,
            inputs={"interactions": stats.interaction_count},
        )
    )

    days = None
    recency = 0.0
    if stats.last_interaction_at is not None:
        days = max(0.0, (now - stats.last_interaction_at).total_seconds() / 86400)
        recency = 0.5 ** (days / settings.recency_half_life_days)
    components.append(
        ScoreComponent(
            name="recency",
            weight=w.recency,
            points=w.recency * recency,
            inputs={
                "days_since_last": round(days, 2) if days is not None else None,
                "half_life_days": settings.recency_half_life_days,
            },
        )
    )

    advocacy = min(1.0, stats.public_positive_mentions / settings.advocacy_saturation)
    components.append(
        ScoreComponent(
            name="public_advocacy",
            weight=w.public_advocacy,
            points=w.public_advocacy * advocacy,
            inputs={"positive_public_mentions": stats.public_positive_mentions},
        )
    )

    for component in components:
        component.points = round(component.points, 2)
        component.inputs["interaction_ids"] = list(stats.evidence.get(component.name, []))
    score = round(sum(c.points for c in components), 2)
    tier = tier_for(score, settings)
    other_points = sum(c.points for c in components if c.name != "recency")
    due = decay_due_at(stats, settings, now, other_points, tier)
    return AdvocateScore(score=score, tier=tier, components=components, computed_at=now, decay_due_at=due)


def decay_due_at(
    stats: PersonStats, settings: ScoringSettings, now: datetime, other_points: float, tier: str
) -> datetime | None:
    """When recency decay next matters: the score leaves its tier, has lost `sync_score_delta`
    points since `now`, or recency settles at zero. None: decay cannot change the score any more.

    recency(d) = w * 0.5 ** (d / h), so it falls to r points at d = h * log2(w / r) days.
    """
    weight, half_life = settings.weights.recency, settings.recency_half_life_days
    if stats.last_interaction_at is None or weight <= 0:
        return None
    days = max(0.0, (now - stats.last_interaction_at).total_seconds() / 86400)
    points = weight * 0.5 ** (days / half_life)
    if points <= SETTLED_POINTS:
        return None
    targets = [SETTLED_POINTS, points - max(settings.sync_score_delta, 0.01)]
    if tier != "at_risk":
        targets.append(getattr(settings.tiers, tier) - other_points)  # where the score leaves this tier
    target = max(t for t in targets if 0 < t < points)  # the first of them to happen
    due_days = half_life * math.log2(weight / target)
    due = stats.last_interaction_at + timedelta(days=due_days, minutes=1)
    return max(due, now + MIN_DECAY_INTERVAL)


def tier_for(score: float, settings: ScoringSettings) -> str:
    t = settings.tiers
    for name, minimum in (
        ("advocate", t.advocate),
        ("promoter", t.promoter),
        ("neutral", t.neutral),
        ("detractor", t.detractor),
    ):
        if score >= minimum:
            return name
    return "at_risk"


def explain_score(person: Person, interactions: list[Interaction]) -> dict:
    """The score as a reader wants it: each component with its inputs and the interactions
    behind it (newest first), for GET /admin/people/{id}."""
    by_id = {i.interaction_id: i for i in interactions}
    score = person.advocate
    components = []
    for component in score.components:
        ids = component.inputs.get("interaction_ids", [])
        components.append(
            {
                "name": component.name,
                "points": component.points,
                "weight": component.weight,
                "inputs": {k: v for k, v in component.inputs.items() if k != "interaction_ids"},
                "interactions": [_summary(by_id[i]) for i in ids if i in by_id],
            }
        )
    return {
        "score": score.score,
        "tier": score.tier,
        "computed_at": score.computed_at and score.computed_at.isoformat(),
        "decay_due_at": score.decay_due_at and score.decay_due_at.isoformat(),
        "components": components,
    }


def _summary(interaction: Interaction) -> dict:
    return {
        "interaction_id": interaction.interaction_id,
        "connector_id": interaction.connector_id,
        "provider": interaction.provider,
        "kind": interaction.kind,
        "occurred_at": interaction.occurred_at.isoformat(),
        "url": interaction.url,
        "nps": interaction.nps,
        "sentiment": interaction.sentiment.model_dump() if interaction.sentiment else None,
        "followers": interaction.author.followers,
        "brand_matches": interaction.brand_matches,
        "public": interaction.public,
    }
