"""Enrichment: sentiment (VADER, tuned for social-media text), NPS category, brand matches."""
from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Iterable

from ..schema import Interaction, Sentiment

TEXT_MAX_CHARS = 20_000  # keeps an Interaction far below DynamoDB's 400 KB item limit
POSITIVE, NEGATIVE = 0.05, -0.05  # VADER's documented thresholds on the compound score
_lock = threading.Lock()
_analyzer = None


def _vader():
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
                _analyzer = SentimentIntensityAnalyzer()
    return _analyzer


def sentiment_of(text: str) -> Sentiment:
    compound = float(_vader().polarity_scores(text)["compound"])
    label = "positive" if compound >= POSITIVE else "negative" if compound <= NEGATIVE else "neutral"
    return Sentiment(score=round(compound, 4), label=label)


def nps_category(nps: int | None) -> str | None:
    if nps is None:
        return None
    return "promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor"


@lru_cache(maxsize=256)
def _term_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    cleaned = [t.strip() for t in terms if t and t.strip()]
    if not cleaned:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(cleaned, key=len, reverse=True))
    return re.compile(rf"(?<![\w@#])(?:{alternatives})(?!\w)", re.IGNORECASE)


def brand_matches(text: str | None, terms: Iterable[str]) -> list[str]:
    """Which brand terms or handles (e.g. 'Acme', '@acme') the text mentions, as configured."""
    pattern = _term_pattern(tuple(terms))
    if not text or pattern is None:
        return []
    canonical = {t.strip().lower(): t.strip() for t in terms if t and t.strip()}
    return sorted({canonical.get(m.group(0).lower(), m.group(0)) for m in pattern.finditer(text)})


def enrich(interaction: Interaction, brand_terms: Iterable[str] = ()) -> Interaction:
    """Fill the derived fields in place and return the interaction."""
    if interaction.text and len(interaction.text) > TEXT_MAX_CHARS:
        interaction.text = interaction.text[:TEXT_MAX_CHARS]
    if interaction.text and not interaction.deleted and interaction.kind != "crm_update":
        interaction.sentiment = sentiment_of(interaction.text)
    interaction.nps_category = nps_category(interaction.nps)
    interaction.brand_matches = brand_matches(interaction.text, brand_terms)
    return interaction
