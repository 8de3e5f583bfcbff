"""Delighted: NPS, CSAT, CES... survey responses (`survey_response.created` / `.updated`).

https://app.delighted.com/docs/api/webhooks
- Delivery: POST JSON `{event_type, event_id, event_data}`; `event_data` is the survey
  response (`id`, `person{id,email,name}`, `survey_type`, `score`, `comment`, `permalink`,
  `created_at`/`updated_at` in unix seconds, `person_properties`, `additional_answers`).
- `.created` fires when the score is chosen; the comment usually follows in `.updated`, so
  both events upsert one Interaction keyed on `event_data.id` (the newer `updated_at` wins).
- Signature: `X-Delighted-Webhook-Signature: sha256=` + hex(HMAC-SHA256(key, raw body)); the
  key is the account's API key (stored as `secrets.signing`). The scheme is attested by public
  verifiers and summaries; the official page read did not show the signing section.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field

from ..errors import MalformedPayload
from ..schema import Interaction, Rating
from .base import Delivery, ParseContext, Skipped, utc_from_epoch
from .entries import misshapen_is_malformed
from .signatures import BodySignature
from .source import Source
from .survey import SurveyOptions, survey_response

EVENTS = ("survey_response.created", "survey_response.updated")
NPS_TYPES = ("nps", "enps")


class DelightedOptions(SurveyOptions):
    """hidden_fields: person property name -> identity namespace (e.g. "Customer ID": hubspot)."""

    rating_scales: dict[str, float] = Field(
        default_factory=lambda: {"csat": 5.0, "ces": 7.0, "smileys": 5.0, "stars": 5.0, "thumbs": 1.0},
        description="survey_type -> top of its score scale; other non-NPS types carry no rating.",
    )
    comment_label: str = Field(default="Comment", min_length=1)


class DelightedProvider(Source):
    name = "delighted"
    Options = DelightedOptions
    required_secrets = {"signing": "source"}
    body_signature = BodySignature("x-delighted-webhook-signature", prefix="sha256=")

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        data = delivery.json()
        if not isinstance(data, dict) or not data.get("event_type"):
            raise MalformedPayload("a Delighted webhook is a JSON object with event_type")
        if data["event_type"] not in EVENTS:
            return [Skipped("unsupported_event", str(data["event_type"]), data.get("event_id"))]
        with misshapen_is_malformed("event_data is not a Delighted survey response"):
            return [self._response(data, delivery.connector)]

    def _response(self, data: dict[str, Any], connector) -> Interaction:
        response = data["event_data"]
        person = response.get("person") or {}
        survey_type, score = response.get("survey_type"), response.get("score")
        nps, rating = None, None
        if survey_type in NPS_TYPES:
            nps = score
        elif score is not None and survey_type in connector.options.rating_scales:
            rating = Rating(value=float(score), scale=connector.options.rating_scales[survey_type])
        answers = [(connector.options.comment_label, response.get("comment"))]
        answers += [_additional_answer(a) for a in response.get("additional_answers") or []]
        return survey_response(
            self.name,
            connector,
            external_id=str(response["id"]),
            event_id=str(data["event_id"]),
            event_type=data["event_type"],
            occurred_at=utc_from_epoch(response["created_at"]),
            updated_at=utc_from_epoch(response.get("updated_at") or response["created_at"]),
            email=person.get("email"),
            display_name=person.get("name"),
            answers=answers,
            nps=nps,
            rating=rating,
            hidden=response.get("person_properties"),
            url=response.get("permalink"),
            thread_id=survey_type,
        )


def _additional_answer(answer: dict[str, Any]) -> tuple[str, Any]:
    """(question text, answer as text) for one of Delighted's additional questions."""
    question, value = answer.get("question") or {}, answer.get("value") or {}
    label = question.get("text") or str(question.get("id") or answer.get("id"))
    if value.get("free_response"):
        return label, value["free_response"]
    if value.get("scale") is not None:
        return label, value["scale"]
    if value.get("select_one"):
        return label, value["select_one"].get("text")
    if value.get("select_many"):
        return label, ", ".join(choice.get("text", "") for choice in value["select_many"])
    return label, None
