"""The advocate score: a sum of named components, each stored with its inputs.

score = nps + sentiment + reach + frequency + recency + public_advocacy, each a weight
(settings.yaml) times a factor in [-1, 1] or [0, 1]. The tier is the first threshold the
score reaches. Everything is recomputed from the person's timeline, so it is idempotent.
"""
from __future__ import annotations

import math
from datetime import datetime

from ..config.models import ScoringSettings
from ..schema import AdvocateScore, Interaction, PersonStats, ScoreComponent

BEHAVIOUR_KINDS = {"survey_response", "post", "comment", "mention", "direct_message", "review"}
PUBLIC_KINDS = {"post", "comment", "mention", "review"}
NPS_FACTOR = {"promoter": 1.0, "passive": 0.0, "detractor": -1.0}


def person_stats(interactions: list[Interaction]) -> PersonStats:
    said = sorted((i for i in interactions if i.kind in BEHAVIOUR_KINDS and not i.deleted),
                  key=lambda i: i.occurred_at)
    stats = PersonStats(interaction_count=len(said))
    if not said:
        return stats
    stats.first_interaction_at, stats.last_interaction_at = said[0].occurred_at, said[-1].occurred_at
    scored = [i.sentiment.score for i in said if i.sentiment is not None]
    stats.sentiment_avg = round(sum(scored) / len(scored), 4) if scored else None
    with_nps = [i for i in said if i.nps is not None]
    if with_nps:
        stats.latest_nps, stats.latest_nps_at = with_nps[-1].nps, with_nps[-1].occurred_at
    followers = [i.author.followers for i in said if i.author.followers is not None]
    stats.max_followers = max(followers) if followers else None
    public = [i for i in said if i.kind in PUBLIC_KINDS and i.public]
    stats.public_positive_mentions = sum(
        1 for i in public if i.sentiment and i.sentiment.label == "positive"
        and (i.brand_matches or i.kind == "mention"))
    urls = [i.url for i in public if i.url]
    stats.last_mention_url = urls[-1] if urls else None
    return stats


def advocate_score(stats: PersonStats, settings: ScoringSettings, now: datetime) -> AdvocateScore:
    w = settings.weights
    components: list[ScoreComponent] = []

    category = None
    if stats.latest_nps is not None:
        category = "promoter" if stats.latest_nps >= 9 else "passive" if stats.latest_nps >= 7 else "detractor"
    components.append(ScoreComponent(
        name="nps", weight=w.nps, points=w.nps * NPS_FACTOR.get(category or "", 0.0),
        inputs={"latest_nps": stats.latest_nps, "category": category}))

    components.append(ScoreComponent(
        name="sentiment", weight=w.sentiment, points=w.sentiment * (stats.sentiment_avg or 0.0),
        inputs={"average": stats.sentiment_avg}))

    followers = stats.max_followers or 0
    reach = min(1.0, math.log10(1 + followers) / math.log10(1 + settings.reach_saturation_followers))
    components.append(ScoreComponent(name="reach", weight=w.reach, points=w.reach * reach,
                                     inputs={"followers": stats.max_followers}))

    frequency = min(1.0, stats.interaction_count / settings.frequency_saturation)
    components.append(ScoreComponent(name="frequency", weight=w.frequency, points=w.frequency * frequency,
                                     inputs={"interactions": stats.interaction_count}))

    days = None
    recency = 0.0
    if stats.last_interaction_at is not None:
        days = max(0.0, (now - stats.last_interaction_at).total_seconds() / 86400)
        recency = 0.5 ** (days / settings.recency_half_life_days)
    components.append(ScoreComponent(
        name="recency", weight=w.recency, points=w.recency * recency,
        inputs={"days_since_last": round(days, 2) if days is not None else None,
                "half_life_days": settings.recency_half_life_days}))

    advocacy = min(1.0, stats.public_positive_mentions / settings.advocacy_saturation)
    components.append(ScoreComponent(
        name="public_advocacy", weight=w.public_advocacy, points=w.public_advocacy * advocacy,
        inputs={"positive_public_mentions": stats.public_positive_mentions}))

    for component in components:
        component.points = round(component.points, 2)
    score = round(sum(c.points for c in components), 2)
    return AdvocateScore(score=score, tier=tier_for(score, settings), components=components, computed_at=now)


def tier_for(score: float, settings: ScoringSettings) -> str:
    t = settings.tiers
    for name, minimum in (("advocate", t.advocate), ("promoter", t.promoter),
                          ("neutral", t.neutral), ("detractor", t.detractor)):
        if score >= minimum:
            return name
    return "at_risk"
