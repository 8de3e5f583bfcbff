"""Brand pulse: how much is said about the brand, where, and in what tone, counted as
interactions are stored (never a Scan) and read by time range.

Each newly stored interaction adds, in its day's and its ISO week's bucket (UTC, by when it was
said) and under its channel (the provider): interactions, mentions (posts, comments, mentions,
reviews, messages), brand_mentions, sentiment by label, NPS category, ratings (count and sum
normalised to 5 stars, in thousandths), and new or returning voices (a returning voice counts
once per bucket: their previous interaction was before the bucket began). Each voice is noted
per bucket with their reach and advocate score, for the top voices. An edit or a deletion of a
stored interaction counts nothing again; CRM updates count nothing.

Counts are added up in memory while a queue batch is processed and written once per counter
per batch (flush at the end of the batch): a hot counter costs one write per batch.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from ..schema import Interaction, Person
from ..store.counters import Voice

if TYPE_CHECKING:
    from ..hub import Hub

MENTION_KINDS = frozenset({"post", "comment", "mention", "review", "direct_message"})
NPS_COUNTERS = {"promoter": "promoters", "passive": "passives", "detractor": "detractors"}
RETENTION_DAYS = 800  # two years of weekly trends
INTERVALS = ("day", "week")
MAX_BUCKETS = {"day": 366, "week": 106}
TOP_VOICES = 10


def day_bucket(moment: date) -> str:
    return moment.isoformat()


def week_bucket(moment: date) -> str:
    """The Monday (UTC) the ISO week begins on."""
    return (moment - timedelta(days=moment.weekday())).isoformat()


def bucket_start(bucket: str) -> date:
    return date.fromisoformat(bucket)


class PulseTally:
    """Increments waiting to be written, per process (the workers' threads share it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[tuple[str, str], Counter[str]]] = {i: {} for i in INTERVALS}
        self._voices: dict[tuple[str, str], dict[str, Voice]] = {}

    def note(self, before: Person | None, after: Person, interaction: Interaction) -> None:
        """Count a stored interaction once: not a CRM update, an edit or a deletion."""
        if interaction.kind == "crm_update" or interaction.deleted:
            return
        if before is not None and after.stats.interaction_count <= before.stats.interaction_count:
            return  # the timeline did not grow: an edit of something counted already
        said = interaction.occurred_at.date()
        channel = interaction.provider
        counts = _interaction_counts(interaction)
        last_seen = before.stats.last_interaction_at if before is not None else None
        with self._lock:
            for interval, bucket in (("day", day_bucket(said)), ("week", week_bucket(said))):
                tally = self._counts[interval].setdefault((bucket, channel), Counter())
                tally.update(counts)
                if before is None:
                    tally["new_voices"] += 1
                elif last_seen is None or last_seen.date() < bucket_start(bucket):
                    tally["returning_voices"] += 1
                voices = self._voices.setdefault((interval, bucket), {})
                known = voices.get(after.person_id)
                voices[after.person_id] = Voice(
                    person_id=after.person_id,
                    mentions=(known.mentions if known else 0) + 1,
                    reach=int(after.stats.max_followers or 0),
                    score=round(after.advocate.score, 4),
                    channels=tuple(sorted({*(known.channels if known else ()), channel})),
                )

    def flush(self, hub: Hub) -> None:
        with self._lock:
            counts, voices = self._counts, self._voices
            self._counts, self._voices = {i: {} for i in INTERVALS}, {}
        for interval, increments in counts.items():
            if increments:
                hub.store.add_counts(
                    f"pulse:{interval}", {k: dict(v) for k, v in increments.items()}, RETENTION_DAYS
                )
        for (interval, bucket), by_person in voices.items():
            hub.store.note_voices(f"pulse:{interval}", bucket, list(by_person.values()), RETENTION_DAYS)


def _interaction_counts(interaction: Interaction) -> Counter[str]:
    counts: Counter[str] = Counter(interactions=1)
    if interaction.kind in MENTION_KINDS:
        counts["mentions"] += 1
    if interaction.brand_matches:
        counts["brand_mentions"] += 1
    if interaction.sentiment is not None:
        counts[interaction.sentiment.label] += 1
    if interaction.nps_category:
        counts[NPS_COUNTERS[interaction.nps_category]] += 1
    if interaction.rating is not None:
        counts["ratings"] += 1
        counts["rating_milli_sum"] += round(interaction.rating.value / interaction.rating.scale * 5000)
    return counts


def forget_voice(hub: Hub, person_id: str, interactions: list[Interaction]) -> None:
    """Erasure: the person's voice entries go (the counters hold no person)."""
    days = {i.occurred_at.date() for i in interactions}
    hub.store.delete_voices(person_id, "pulse:day", [day_bucket(d) for d in days])
    hub.store.delete_voices(person_id, "pulse:week", [week_bucket(d) for d in days])


# ---- reading --------------------------------------------------------------------------------
@dataclass
class PulseQuery:
    first: date
    last: date
    interval: str

    @property
    def buckets(self) -> list[str]:
        make = day_bucket if self.interval == "day" else week_bucket
        found, moment = [], self.first
        while moment <= self.last:
            found.append(make(moment))
            moment += timedelta(days=1 if self.interval == "day" else 7)
        return list(dict.fromkeys(found))


def parse_query(raw: dict[str, str], today: date) -> PulseQuery:
    """?from=YYYY-MM-DD&to=YYYY-MM-DD&interval=day|week; ValueError with the reason."""
    interval = raw.get("interval") or "day"
    if interval not in INTERVALS:
        raise ValueError("interval must be day or week")
    try:
        last = date.fromisoformat(raw["to"]) if raw.get("to") else today
        default_first = last - timedelta(days=29 if interval == "day" else 7 * 11)
        first = date.fromisoformat(raw["from"]) if raw.get("from") else default_first
    except ValueError:
        raise ValueError("from and to must be dates, YYYY-MM-DD") from None
    if first > last:
        raise ValueError("from must not be after to")
    if interval == "week":
        first = first - timedelta(days=first.weekday())
    query = PulseQuery(first, last, interval)
    if len(query.buckets) > MAX_BUCKETS[interval]:
        raise ValueError(f"at most {MAX_BUCKETS[interval]} {interval}s at a time")
    return query


def pulse(hub: Hub, query: PulseQuery, top: int = TOP_VOICES) -> dict[str, Any]:
    """Series per channel, totals, NPS, ratings, voices and top voices for the range."""
    scope = f"pulse:{query.interval}"
    buckets = query.buckets
    rows = hub.store.read_counts(scope, buckets[0], buckets[-1])
    channels: dict[str, dict[str, Counter[str]]] = {}
    for bucket, channel, counts in rows:
        channels.setdefault(channel, {})[bucket] = Counter(counts)
    totals: Counter[str] = Counter()
    per_channel = {}
    for channel, by_bucket in sorted(channels.items()):
        channel_totals: Counter[str] = sum(by_bucket.values(), Counter())
        totals.update(channel_totals)
        per_channel[channel] = {
            "series": [{"bucket": b, **dict(by_bucket.get(b, {}))} for b in buckets],
            "totals": _summary(channel_totals),
        }
    return {
        "interval": query.interval,
        "from": query.first.isoformat(),
        "to": query.last.isoformat(),
        "buckets": buckets,
        "channels": per_channel,
        "totals": _summary(totals),
        "top_voices": {
            "by_reach": _top(hub, scope, buckets, "reach", top),
            "by_advocacy": _top(hub, scope, buckets, "score", top),
        },
    }


def _summary(counts: Counter[str]) -> dict[str, Any]:
    """Counters plus what they mean: the sentiment split, the NPS and the average rating."""
    answers = counts["promoters"] + counts["passives"] + counts["detractors"]
    return {
        "interactions": counts["interactions"],
        "mentions": counts["mentions"],
        "brand_mentions": counts["brand_mentions"],
        "sentiment": {label: counts[label] for label in ("positive", "neutral", "negative")},
        "nps": {
            "promoters": counts["promoters"],
            "passives": counts["passives"],
            "detractors": counts["detractors"],
            "score": round(100 * (counts["promoters"] - counts["detractors"]) / answers, 1)
            if answers
            else None,
        },
        "ratings": {
            "count": counts["ratings"],
            "average_of_5": round(counts["rating_milli_sum"] / counts["ratings"] / 1000, 2)
            if counts["ratings"]
            else None,
        },
        "voices": {"new": counts["new_voices"], "returning": counts["returning_voices"]},
    }


def _top(hub: Hub, scope: str, buckets: list[str], by: str, limit: int) -> list[dict[str, Any]]:
    """Reach and score belong to the person, not the bucket: the range's top is the top of the
    buckets' tops (one indexed Query per bucket)."""
    best: dict[str, Voice] = {}
    mentions: Counter[str] = Counter()
    for bucket in buckets:
        for voice in hub.store.top_voices(scope, bucket, by, limit):
            mentions[voice.person_id] += voice.mentions
            best.setdefault(voice.person_id, voice)  # buckets in time order: keep the latest below
            best[voice.person_id] = voice
    ranked = sorted(best.values(), key=lambda v: v.reach if by == "reach" else v.score, reverse=True)
    found = []
    for voice in ranked:
        person = hub.store.get_person(voice.person_id)
        if person is None or person.merged_into:  # erased, or merged into someone listed apart
            continue
        found.append(
            {
                "person_id": voice.person_id,
                "display_name": person.display_name,
                "handles": person.handles,
                "reach": voice.reach,
                "score": voice.score,
                "tier": person.advocate.tier,
                "mentions": mentions[voice.person_id],
                "channels": list(voice.channels),
            }
        )
        if len(found) == limit:
            break
    return found
