"""SurveyMonkey: `response_completed` / `response_updated` webhooks (API v3).

https://github.com/SurveyMonkey/public_api_docs (includes/_webhooks.md, _responses.md, _surveys.md)
- Content type: callbacks are `application/vnd.surveymonkey.response.v1+json` (what every
  independent receiver registers; the public docs do not state it); plain JSON is accepted too.
- Handshake: creating the webhook sends HEAD to the subscription_url, which "must accept a HEAD
  request and return a 200".
- Signature: `Sm-Apikey` is the app's API key / Client ID; `Sm-Signature` is
  base64(HMAC-SHA1(key="{api_key}&{api_secret}", msg=raw body)). The API key is not secret
  (it travels in a header), so it is `options.api_key`; the API secret (the app's Secret /
  client secret) is `secrets.signing`.
- Deliveries carry ids, not answers (`object_id` is the response, `resources.survey_id`).
  parse() fetches GET /v3/surveys/{survey_id}/responses/{id}/details (answers by choice id)
  and GET /v3/surveys/{survey_id}/details (headings, family/subtype, choice texts) with
  `secrets.access_token`. Both events upsert one Interaction per response id; the newer
  `date_modified` wins. `response_deleted` and `response_disqualified` (the response leaves the
  survey's results) delete the stored response; nothing is fetched for them. A callback with a missing or wrong-typed id is skipped as
  `malformed_entry`; fetched objects not in the documented shape dead-letter the delivery.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field

from ..errors import MalformedPayload, SignatureMismatch
from ..schema import Author, Interaction
from .base import JSON_TYPES, Delivery, ParseContext, Skipped, WebResponse, parse_iso
from .entries import entry_id, guarded, misshapen_is_malformed
from .signatures import constant_time_equals, sign, verify_hmac
from .source import SignedTestDelivery, Source
from .survey import SurveyOptions, fetch_json, survey_response

EVENTS = ("response_completed", "response_updated")
REMOVALS = ("response_deleted", "response_disqualified")
CALLBACK_TYPE = "application/vnd.surveymonkey.response.v1+json"


class SurveyMonkeyOptions(SurveyOptions):
    """hidden_fields: custom variable name (survey link ?name=value) -> identity namespace."""

    api_key: str = Field(min_length=1, description="The app's API key / Client ID (Sm-Apikey).")
    base_url: str = Field(default="https://api.surveymonkey.com", pattern=r"^https?://")
    nps_question_id: str | None = Field(
        default=None, description="Default: the question with family 'matrix', subtype 'nps'."
    )
    email_variable: str | None = Field(
        default=None,
        description="Custom variable holding the email; default: the contact's "
        "email in metadata, else an answer validated as an email.",
    )


class SurveyMonkeyProvider(Source):
    name = "surveymonkey"
    Options = SurveyMonkeyOptions
    content_types = (CALLBACK_TYPE, *JSON_TYPES)
    handshake_methods = ("HEAD",)
    required_secrets = {"signing": "source", "access_token": "source"}

    def handshake(self, request, connector) -> WebResponse | None:
        return WebResponse(200, b"")

    def verify(self, request, connector, now) -> None:
        api_key = connector.options.api_key
        sent_key = request.header("sm-apikey")
        if sent_key is not None and not constant_time_equals(sent_key.strip(), api_key):
            raise SignatureMismatch("Sm-Apikey is not this connector's API key")
        verify_hmac(
            request.header("sm-signature"),
            key=f"{api_key}&{connector.secret('signing')}",
            message=request.body,
            algorithm="sha1",
            encoding="base64",
        )

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        api_key = connector.options.api_key
        key = f"{api_key}&{connector.secret('signing')}"
        signature = sign(key, body, algorithm="sha1", encoding="base64")
        return SignedTestDelivery(
            {"content-type": CALLBACK_TYPE, "sm-apikey": api_key, "sm-signature": signature}
        )

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        event = delivery.json()
        if not isinstance(event, dict) or not event.get("event_type"):
            raise MalformedPayload("a SurveyMonkey callback is a JSON object with event_type")
        event_id = entry_id(event.get("event_id"))
        handler = self.handler_for(str(event["event_type"]))
        if handler is None or event.get("object_type") != "response":
            return [Skipped("unsupported_event", str(event["event_type"]), event_id)]
        return [guarded(lambda callback: handler(callback, delivery, ctx), event, event_id)]

    def _callback(self, event: dict[str, Any], delivery: Delivery, ctx: ParseContext) -> Interaction:
        """A completed or updated response: its answers and the survey's questions are fetched."""
        survey_id, response_id = _ids(event)
        connector = delivery.connector
        base, headers = (
            f"{connector.options.base_url}/v3/surveys/{survey_id}",
            {"Authorization": f"Bearer {connector.secret('access_token')}"},
        )
        response = fetch_json(
            ctx.http, f"{base}/responses/{response_id}/details", headers, "SurveyMonkey response details"
        )
        survey = fetch_json(ctx.http, f"{base}/details", headers, "SurveyMonkey survey details")
        # the API's answer, not the callback: dead-letter to replay once fixed
        with misshapen_is_malformed("SurveyMonkey response is not in the documented shape"):
            return self._response(event, response, survey, connector)

    def _removal(self, event: dict[str, Any], delivery: Delivery, ctx: ParseContext) -> Interaction:
        """The response is gone from the survey: the stored one keeps none of its answers."""
        survey_id, response_id = _ids(event)
        moment = parse_iso(event["event_datetime"]) if event.get("event_datetime") else delivery.received_at
        return self.interaction(
            delivery.connector,
            response_id,
            kind="survey_response",
            event_id=str(event["event_id"]),
            event_type=event["event_type"],
            occurred_at=moment,
            updated_at=moment,
            author=Author(),
            thread_id=survey_id,
            public=False,
            deleted=True,
        )

    def _response(self, event, response: dict[str, Any], survey: dict[str, Any], connector) -> Interaction:
        questions = {q["id"]: q for page in survey.get("pages") or [] for q in page.get("questions") or []}
        options, nps, email, answers = connector.options, None, None, []
        for page in response.get("pages") or []:
            for answered in page.get("questions") or []:
                question = questions.get(answered["id"], {})
                heading = ((question.get("headings") or [{}])[0].get("heading")) or answered["id"]
                choices = _choices(question)
                if answered["id"] == options.nps_question_id or (
                    not options.nps_question_id and _is_nps(question)
                ):
                    picked = next(
                        (
                            choices[a["choice_id"]]
                            for a in answered["answers"]
                            if a.get("choice_id") in choices
                        ),
                        None,
                    )
                    nps = _choice_number(picked) if picked else nps
                    continue
                given = [
                    a["text"] if a.get("text") else choices.get(a.get("choice_id"), {}).get("text")
                    for a in answered.get("answers") or []
                ]
                values = [v for v in given if v]
                if (question.get("validation") or {}).get("type") == "email" and values:
                    email = email or values[0]
                    continue
                answers.append((heading, ", ".join(values)))
        variables = response.get("custom_variables") or {}
        contact_email = ((response.get("metadata") or {}).get("contact") or {}).get("email") or {}
        email = (
            (variables.get(options.email_variable) if options.email_variable else None)
            or (contact_email.get("value") if isinstance(contact_email, dict) else None)
            or email
        )
        return survey_response(
            self.name,
            connector,
            external_id=str(response["id"]),
            event_id=str(event["event_id"]),
            event_type=event["event_type"],
            occurred_at=parse_iso(response["date_created"]),
            updated_at=parse_iso(response.get("date_modified") or response["date_created"]),
            email=email,
            answers=answers,
            nps=nps,
            hidden=variables,
            thread_id=str(response.get("survey_id") or event["resources"]["survey_id"]),
            url=response.get("analyze_url"),
        )

    # event_type -> its handler
    events = {
        **dict.fromkeys(EVENTS, _callback),
        **dict.fromkeys(REMOVALS, _removal),
    }


def _ids(event: dict[str, Any]) -> tuple[str, str]:
    """(survey id, response id) of a callback; ValueError (a malformed entry) without them."""
    survey_id, response_id = entry_id(event["resources"]["survey_id"]), entry_id(event["object_id"])
    if not survey_id or not response_id or not entry_id(event["event_id"]):
        raise ValueError("callback without event_id, object_id or resources.survey_id")
    return survey_id, response_id


def _is_nps(question: dict[str, Any]) -> bool:
    return question.get("family") == "matrix" and question.get("subtype") == "nps"


def _choices(question: dict[str, Any]) -> dict[str, dict[str, Any]]:
    answers = question.get("answers") or {}
    found = {c["id"]: c for c in answers.get("choices") or [] if "id" in c}
    other = answers.get("other")
    if isinstance(other, dict) and "id" in other:
        found[other["id"]] = other
    return found


def _choice_number(choice: dict[str, Any]) -> int:
    """An NPS choice's score: its text ("0".."10"), else its weight, else position - 1."""
    text = str(choice.get("text", "")).strip()
    if text.isdigit():
        return int(text)
    if choice.get("weight") is not None:
        return int(choice["weight"])
    return int(choice["position"]) - 1
