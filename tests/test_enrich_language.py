"""Language detection and the sentiment gate: VADER scores English (or too-short-to-tell) text only."""
from datetime import datetime, timezone

from chalicelib.pipeline.enrich import detect_language, enrich
from chalicelib.schema import Interaction


def item(text, language=None):
    return Interaction(interaction_id="i", connector_id="c", provider="p", kind="comment", external_id="e",
                       event_id="e", occurred_at=datetime(2026, 11, 24, tzinfo=timezone.utc), text=text,
                       language=language)


def test_english_text_is_detected_and_scored():
    done = enrich(item("Chorus made our NPS follow-ups so much easier. Great product, thank you!"))
    assert done.language == "en" and done.sentiment.label == "positive"


def test_other_languages_get_no_sentiment_rather_than_a_wrong_number():
    done = enrich(item("Chorus a rendu nos relances NPS tellement plus simples. Produit génial, merci !"))
    assert done.language == "fr" and done.sentiment is None
    spanish = enrich(item("Great!", language="es"))  # the provider's own tag wins over detection
    assert spanish.language == "es" and spanish.sentiment is None


def test_short_text_keeps_language_unknown_and_is_scored():
    done = enrich(item("love it!"))
    assert done.language is None and done.sentiment.label == "positive"
    assert detect_language("ok") is None


def test_detection_is_deterministic():
    text = "Das ist wirklich ein tolles Produkt, vielen Dank an das ganze Team!"
    assert {detect_language(text) for _ in range(5)} == {"de"}


import pytest  # noqa: E402


@pytest.mark.parametrize("text,expected", [
    ("What's the one thing you'd tell a friend about working with us? Chorus took our follow-ups off a spreadsheet.", "en"),
    ("Ehrlich gesagt bin ich von dem Produkt enttäuscht, der Support antwortet nie rechtzeitig.", "de"),
    ("Ik ben heel blij met de service, het team was erg behulpzaam en snel.", "nl"),
    ("Le service client est excellent, je recommande vivement cette entreprise à tous mes amis.", "fr"),
    ("El servicio es excelente y el equipo respondió muy rápido a todas nuestras preguntas.", "es"),
])
def test_english_fast_path_agrees_with_langdetect(text, expected):
    from langdetect import DetectorFactory, detect

    from chalicelib.pipeline.enrich import detect_language
    DetectorFactory.seed = 0
    assert detect_language(text) == expected == detect(text)
