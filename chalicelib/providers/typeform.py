"""Typeform: survey responses (`form_response` webhooks).

Signature: `Typeform-Signature: sha256=` + base64(HMAC-SHA256(secret, raw body)).
https://www.typeform.com/developers/webhooks/secure-your-webhooks/
Answers sit under the key named by their `type`; question titles come from
`definition.fields`, joined by field id. NPS is the answer to a field of type `nps`.
Ratings (`rating`, `opinion_scale`) keep their own scale: the top is options.scales[field ref or
id], else the field's `properties.steps` when the definition carries it, else Typeform's default
(rating: 5 steps, 1-5; opinion scale: 11 steps, 0-10). Every rating answer is kept (`ratings`,
labelled by question); `rating` is the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field

from ..errors import MalformedPayload
from ..schema import Interaction, Rating
from .base import Delivery, ParseContext, Skipped, parse_iso
from .entries import misshapen_is_malformed
from .signatures import BodySignature
from .source import Source
from .survey import SurveyOptions, survey_response

# Typeform's defaults: a rating has 5 steps from 1, an opinion scale 11 steps from 0
DEFAULT_STEPS = {"rating": 5, "opinion_scale": 11}


class TypeformOptions(SurveyOptions):
    """hidden_fields: hidden field name -> identity namespace (email, x_handle, hubspot...)."""

    scales: dict[str, float] = Field(
        default_factory=dict,
        description="Field ref (or id) -> the top of its scale, for ratings and opinion scales "
        "that do not use Typeform's default steps (e.g. a 10-star rating: 10; a 1-5 opinion scale: 5).",
    )


def scale_top(
    field_type: str, definition: dict[str, Any], refs: tuple[str, ...], scales: dict[str, float]
) -> float:
    """The best answer a rating or opinion-scale question allows."""
    for ref in refs:
        if ref in scales:
            return float(scales[ref])
    properties = definition.get("properties") or {}
    steps = int(properties.get("steps") or DEFAULT_STEPS[field_type])
    from_one = field_type == "rating" or bool(properties.get("start_at_one"))
    return float(steps if from_one else steps - 1)


class TypeformProvider(Source):
    name = "typeform"
    Options = TypeformOptions
    required_secrets = {"signing": "source"}
    body_signature = BodySignature("typeform-signature", encoding="base64", prefix="sha256=")

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        data = delivery.json()
        if not isinstance(data, dict) or not isinstance(data.get("form_response"), dict):
            raise MalformedPayload("no form_response object")
        if data.get("event_type") not in ("form_response", None):
            return [Skipped("unsupported_event", str(data.get("event_type")), data.get("event_id"))]
        with misshapen_is_malformed("form_response is not in Typeform's shape"):
            return [self._response(data, delivery.connector)]

    def _response(self, data: dict[str, Any], connector) -> Interaction:
        response = data["form_response"]
        fields = {f["id"]: f for f in (response.get("definition") or {}).get("fields", [])}
        titles = {key: f.get("title") or f.get("ref") or key for key, f in fields.items()}
        email, nps, ratings, texts = None, None, [], []
        for answer in response.get("answers") or []:
            field = answer["field"]
            value = answer.get(answer["type"])
            title = titles.get(field["id"], field.get("ref") or field["id"])
            if field.get("type") == "nps" and value is not None:
                nps = int(value)
            elif field.get("type") in DEFAULT_STEPS and value is not None:
                refs = tuple(r for r in (field.get("ref"), field["id"]) if r)
                top = scale_top(field["type"], fields.get(field["id"], {}), refs, connector.options.scales)
                ratings.append(Rating(value=float(value), scale=top, label=title))
            elif answer["type"] == "email":
                email = value
            elif answer["type"] == "text" and value:
                texts.append((title, value))
            elif answer["type"] == "choice" and value:
                texts.append((title, value.get("label") or value.get("other")))
            elif answer["type"] == "choices" and value:
                texts.append((title, ", ".join(value.get("labels") or [])))
        return survey_response(
            self.name,
            connector,
            external_id=response["token"],
            event_id=data["event_id"],
            event_type="form_response",
            occurred_at=parse_iso(response["submitted_at"]),
            email=email,
            answers=texts,
            nps=nps,
            ratings=ratings,
            hidden=response.get("hidden"),
            thread_id=response.get("form_id"),
        )
