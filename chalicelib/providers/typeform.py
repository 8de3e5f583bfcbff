"""Typeform: survey responses (`form_response` webhooks).

Signature: `Typeform-Signature: sha256=` + base64(HMAC-SHA256(secret, raw body)).
https://www.typeform.com/developers/webhooks/secure-your-webhooks/
Answers sit under the key named by their `type`; question titles come from
`definition.fields`, joined by field id. NPS is the answer to a field of type `nps`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import MalformedPayload
from ..schema import Interaction, Rating
from .base import Delivery, ParseContext, Provider, Skipped, parse_iso
from .entries import misshapen_is_malformed
from .signatures import BodySignature
from .survey import SurveyOptions, survey_response

SCALES = {"rating": 5.0, "opinion_scale": 10.0}


class TypeformOptions(SurveyOptions):
    """hidden_fields: hidden field name -> identity namespace (email, x_handle, hubspot...)."""


class TypeformProvider(Provider):
    name = "typeform"
    is_source = True
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
        titles = {
            f["id"]: f.get("title") or f.get("ref") or f["id"]
            for f in (response.get("definition") or {}).get("fields", [])
        }
        email, nps, rating, texts = None, None, None, []
        for answer in response.get("answers") or []:
            field = answer["field"]
            value = answer.get(answer["type"])
            title = titles.get(field["id"], field.get("ref") or field["id"])
            if field.get("type") == "nps" and value is not None:
                nps = int(value)
            elif field.get("type") in SCALES and value is not None:
                rating = Rating(value=float(value), scale=SCALES[field["type"]])
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
            rating=rating,
            hidden=response.get("hidden"),
            thread_id=response.get("form_id"),
        )
