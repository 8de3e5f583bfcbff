"""Jotform: form submissions (webhook integration).

https://www.jotform.com/help/245-how-to-setup-a-webhook-with-jotform/ and
https://api.jotform.com/docs/ (POST /form/{formID}/webhooks).
- Delivery: POST multipart/form-data with `formID`, `submissionID`, `formTitle`, `pretty`,
  ... and `rawRequest`: a JSON string of the answers keyed `q{qid}_{name}` (compound fields
  are objects, e.g. `q3_fullName: {first, last}`).
- Signature: none. The webhook URL carries an unguessable `?token=`, compared in constant time
  with `secrets.signing` (the token never reaches the queue).
- Answers carry field names, not question titles: `options.labels` maps a key to its question,
  otherwise the name is spelled out ("q5_whatDid" -> "What did").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from pydantic import Field

from ..errors import MalformedPayload
from ..schema import Interaction, Rating
from .base import MULTIPART_TYPE, Delivery, ParseContext, Skipped, utc_from_epoch
from .entries import misshapen_is_malformed
from .multipart import multipart_field_names, parse_multipart
from .source import SignedTestDelivery, Source
from .survey import SurveyOptions, survey_response, verify_url_token

ANSWER_KEY = re.compile(r"^q\d+_(?P<name>.+)$")


class JotformOptions(SurveyOptions):
    """hidden_fields: rawRequest key (e.g. q9_customerId) -> identity namespace."""

    nps_field: str | None = Field(default=None, description="rawRequest key of the 0-10 question.")
    rating_field: str | None = Field(default=None, description="rawRequest key of a star rating.")
    rating_scale: float = Field(default=5.0, gt=0)
    email_field: str | None = Field(default=None, description="Default: the first key named *email*.")
    labels: dict[str, str] = Field(default_factory=dict, description="rawRequest key -> question.")


class JotformProvider(Source):
    name = "jotform"
    Options = JotformOptions
    content_types = (MULTIPART_TYPE,)
    required_secrets = {"signing": "source"}

    def verify(self, request, connector, now) -> None:
        verify_url_token(request.query, connector.secret("signing"))

    def sign_test_delivery(self, body, connector, url, now) -> SignedTestDelivery:
        # multipart: the boundary is the body's first line, as a sender would declare it
        boundary = body.split(b"\r\n", 1)[0].removeprefix(b"--").decode("ascii", "replace")
        return SignedTestDelivery(
            {"content-type": f"{MULTIPART_TYPE}; boundary={boundary}"}, {"token": connector.secret("signing")}
        )

    def check_body(self, request) -> None:
        names = multipart_field_names(request.body, request.header("content-type") or "")
        if "rawRequest" not in names or "submissionID" not in names:
            raise MalformedPayload("a Jotform webhook has submissionID and rawRequest fields")

    def parse(self, delivery: Delivery, ctx: ParseContext) -> Iterable[Interaction | Skipped]:
        fields = parse_multipart(delivery.body, delivery.headers.get("content-type") or "")
        with misshapen_is_malformed("not a Jotform submission"):
            answers = json.loads(fields["rawRequest"])
            if not isinstance(answers, dict):
                raise TypeError("rawRequest is not a JSON object")
            return [self._submission(fields, answers, delivery)]

    def _submission(self, fields: dict[str, str], answers: dict[str, Any], delivery: Delivery) -> Interaction:
        options = delivery.connector.options
        email_key = options.email_field or next(
            (k for k in answers if ANSWER_KEY.match(k) and "email" in k.lower()), None
        )
        name_key, display_name = _full_name(answers)
        special = {email_key, name_key, options.nps_field, options.rating_field, *options.hidden_fields}
        texts = [
            (options.labels.get(key) or _spell_out(key), _as_text(value))
            for key, value in answers.items()
            if key not in special and (key in options.labels or ANSWER_KEY.match(key))
        ]
        rating = None
        if options.rating_field and str(answers.get(options.rating_field) or "").strip():
            rating = Rating(value=float(answers[options.rating_field]), scale=options.rating_scale)
        submitted = str(answers.get("submitDate") or "")  # epoch milliseconds, when Jotform includes it
        occurred = utc_from_epoch(submitted, "ms") if submitted.isdigit() else delivery.received_at
        submission_id = fields["submissionID"]
        return survey_response(
            self.name,
            delivery.connector,
            external_id=submission_id,
            event_id=f"submission:{submission_id}",
            event_type="submission",
            occurred_at=occurred,
            email=answers.get(email_key) if email_key else None,
            display_name=display_name,
            answers=texts,
            nps=answers.get(options.nps_field) if options.nps_field else None,
            rating=rating,
            hidden=answers,
            thread_id=fields.get("formID"),
        )


def _spell_out(key: str) -> str:
    match = ANSWER_KEY.match(key)
    name = re.sub(r"\d+$", "", match.group("name") if match else key)
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").strip()
    return words[:1].upper() + words[1:].lower()


def _as_text(value: Any) -> str | None:
    if isinstance(value, dict):
        return " ".join(str(v) for v in value.values() if v) or None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if v) or None
    return None if value is None else str(value)


def _full_name(answers: dict[str, Any]) -> tuple[str | None, str | None]:
    """(key, "First Last") of the first full-name field, which is the respondent's name."""
    for key, value in answers.items():
        if ANSWER_KEY.match(key) and isinstance(value, dict) and {"first", "last"} & value.keys():
            return key, " ".join(str(value.get(p) or "") for p in ("first", "last")).strip() or None
    return None, None
