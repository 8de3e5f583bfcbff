"""Qualtrics: event subscriptions for completed responses (`surveyengine.completedResponse.{SurveyID}`).

Subscribe with POST /API/v3/eventsubscriptions {topics, publicationUrl, encrypt: false}.
- Delivery: POST application/x-www-form-urlencoded (Qualtrics: "x-www-form-urlencoded data not
  JSON") with `Topic`, `Status`, `SurveyID`, `ResponseID`, `CompletedDate`, `BrandID`. When the
  subscription has a `sharedKey`, the fields come JSON-encoded in `MSG` beside `Topic` and `HMAC`.
- GET: "The publicationUrl must be able to handle HTTP GET/POST": a GET carrying the URL token
  is answered 200 with an empty body (a wrong or missing token is 401, as for a POST).
- Verification: Qualtrics does not document how `HMAC` is computed (a 128-hex value, so
  probably SHA-512, over an unstated message and key encoding), so Chorus does not guess: the
  publicationUrl carries an unguessable `?token=` compared in constant time with
  `secrets.signing`, and the response is then fetched from the API by id, which a forger
  cannot fake.
- Answers: GET {base_url}/API/v3/surveys/{SurveyID}/responses/{ResponseID} with `X-API-TOKEN`
  (`secrets.access_token`). `result.values` holds `QID1` (choice value), `QID1_NPS_GROUP` for an
  NPS question, `QID2_TEXT` for text entry, embedded data by name, `recipientEmail`...
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import Field

from ..errors import MalformedPayload
from ..schema import Interaction
from .base import FORM_TYPE, Delivery, ParseContext, Skipped, WebResponse, parse_iso
from .entries import misshapen_is_malformed
from .source import SignedTestDelivery, Source
from .survey import SurveyOptions, fetch_json, survey_response, verify_url_token

TOPIC = "completedResponse"


class QualtricsOptions(SurveyOptions):
    """hidden_fields: embedded data field -> identity namespace (e.g. crm_id: hubspot)."""

    base_url: str = Field(
        pattern=r"^https://[a-z0-9.-]+$", description="Your datacenter, e.g. https://yul1.qualtrics.com"
    )
    nps_question: str | None = Field(
        default=None,
        description="QID of the NPS question; default: the question that has a QIDn_NPS_GROUP value.",
    )
    question_labels: dict[str, str] = Field(
        default_factory=dict, description="QID (or QIDn_TEXT) -> question text."
    )
    email_field: str = "recipientEmail"


class QualtricsProvider(Source):
    name = "qualtrics"
    Options = QualtricsOptions
    content_types = (FORM_TYPE,)
    handshake_methods = ("GET",)
    required_secrets = {"signing": "source", "access_token": "source"}

    def handshake(self, request, connector) -> WebResponse | None:
        verify_url_token(request.query, connector.secret("signing"))
        return WebResponse(200, "")

    def verify(self, request, connector, now) -> None:
        verify_url_token(request.query, connector.secret("signing"))

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        return SignedTestDelivery({"content-type": FORM_TYPE}, {"token": connector.secret("signing")})

    def check_body(self, request) -> None:
        try:
            request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPayload("form body is not UTF-8") from None

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        event = delivery.form()
        if "MSG" in event:  # subscriptions with a sharedKey wrap the fields in MSG
            try:
                event = {**json.loads(event["MSG"]), "Topic": event.get("Topic", "")}
            except ValueError:
                raise MalformedPayload("MSG is not JSON") from None
        topic, response_id = event.get("Topic", ""), event.get("ResponseID")
        if TOPIC not in topic.split("."):
            return [Skipped("unsupported_event", topic or "(no Topic)", response_id)]
        if not response_id or not event.get("SurveyID"):
            raise MalformedPayload("completedResponse without SurveyID and ResponseID")
        connector = delivery.connector
        body = fetch_json(
            ctx.http,
            f"{connector.options.base_url}/API/v3/surveys/{event['SurveyID']}/responses/{response_id}",
            {"X-API-TOKEN": connector.secret("access_token")},
            "Qualtrics response",
        )
        with misshapen_is_malformed("Qualtrics response is not in the documented shape"):
            return [self._response(event, body["result"], connector)]

    def _response(self, event: dict[str, str], result: dict[str, Any], connector) -> Interaction:
        values, options = result["values"], connector.options
        nps_qid = options.nps_question or next(
            (k.removesuffix("_NPS_GROUP") for k in values if k.endswith("_NPS_GROUP")), None
        )
        answers = [
            (
                options.question_labels.get(key)
                or options.question_labels.get(key.removesuffix("_TEXT"))
                or key.removesuffix("_TEXT"),
                value,
            )
            for key, value in values.items()
            if key.startswith("QID") and key.endswith("_TEXT") and isinstance(value, str)
        ]
        answers += [
            (label, values.get(key))
            for key, label in options.question_labels.items()
            if not key.endswith("_TEXT")
            and key != nps_qid
            and key in values
            and isinstance(values.get(key), str)
        ]
        recorded = values.get("recordedDate") or values.get("endDate") or event.get("CompletedDate")
        name = " ".join(p for p in (values.get("recipientFirstName"), values.get("recipientLastName")) if p)
        return survey_response(
            self.name,
            connector,
            external_id=result["responseId"],
            event_id=f"{TOPIC}:{result['responseId']}",
            event_type=TOPIC,
            occurred_at=parse_iso(recorded),
            email=values.get(options.email_field),
            display_name=name or None,
            answers=answers,
            nps=values.get(nps_qid) if nps_qid else None,
            hidden=values,
            thread_id=event["SurveyID"],
        )
