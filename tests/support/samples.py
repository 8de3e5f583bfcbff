"""One signed sample delivery per test connector, for the benchmarks and the robustness suite.

Signed with plain hmac/hashlib/base64 as each provider documents it (the helpers in
tests/senders.py and tests/social_senders.py), never with chalicelib's own signing code.
A sample whose connector file or fixture is not there (yet) is left out, so adding a
provider never breaks this catalog.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

from tests.support.paths import CONNECTORS
from tests.support.senders import FIXTURES, SECRETS, b64_hmac, hubspot_headers, typeform_headers, x_headers
from tests.support.social_senders import discourse_headers, hex_hmac, meta_headers, slack_headers

HOST = "http://localhost"  # what the Chalice test client and the benchmarks put in request.url


@dataclass
class Sample:
    """A delivery for one connector: sign(body, url, now) -> (headers, query)."""

    connector_id: str
    provider: str
    fixture: str
    sign: Callable[[bytes, str, float], tuple[dict[str, str], dict[str, str]]]
    # URL fragment -> fixture, for providers whose parse fetches the object from their API (and its token)
    api: dict[str, str] = field(default_factory=dict)
    timestamped: bool = False  # the scheme signs a timestamp (a replay window applies)

    @property
    def body(self) -> bytes:
        return (FIXTURES / self.fixture).read_bytes()

    @property
    def path(self) -> str:
        return f"/webhooks/{self.connector_id}"

    def request(self, now: float | None = None, body: bytes | None = None, host: str = HOST):
        """(path with query, headers, body), signed at `now`."""
        body = self.body if body is None else body
        url = host + self.path
        headers, query = self.sign(body, url, time.time() if now is None else now)
        return self.path + ("?" + urlencode(query) if query else ""), headers, body


def _json(headers: dict[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/json", **headers}


def _surveymonkey(body, url, now):
    api_key = "sm-client-id-7f3a"  # options.api_key of surveymonkey-nps.yaml
    key = f"{api_key}&{SECRETS['TEST_SURVEYMONKEY_API_SECRET']}".encode()
    digest = base64.b64encode(hmac.new(key, body, hashlib.sha1).digest()).decode()
    return _json({"Sm-Apikey": api_key, "Sm-Signature": digest}), {}


def _zendesk(body, url, now):
    stamp = datetime.fromtimestamp(int(now), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = b64_hmac(SECRETS["TEST_ZENDESK_SIGNING_SECRET"], stamp.encode() + body)
    return _json(
        {"X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": stamp}
    ), {}


def _acme(body, url, now):
    stamp = str(int(now))
    signature = hex_hmac(SECRETS["TEST_ACME_SIGNING_SECRET"], stamp.encode() + b"." + body)
    return _json({"X-Acme-Signature": "sha256=" + signature, "X-Acme-Timestamp": stamp}), {}


def _jotform(body, url, now):
    content_type = (FIXTURES / "jotform/submission.content-type").read_text().strip()
    return {"Content-Type": content_type}, {"token": SECRETS["TEST_JOTFORM_URL_TOKEN"]}


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


SAMPLES: list[Sample] = [
    Sample(
        "typeform-nps", "typeform", "typeform/form_response.json", lambda b, u, n: (typeform_headers(b), {})
    ),
    Sample("x-brand", "x", "x/tweet_create_events.json", lambda b, u, n: (x_headers(b), {})),
    Sample(
        "hubspot",
        "hubspot",
        "hubspot/contact_events.json",
        lambda b, u, n: (hubspot_headers(b, u, timestamp_ms=int(n * 1000)), {}),
        timestamped=True,
    ),
    Sample(
        "surveymonkey-nps",
        "surveymonkey",
        "surveymonkey/response_completed.json",
        _surveymonkey,
        api={
            "/responses/118340988711/details": "surveymonkey/response_details.json",
            "/surveys/405712839/details": "surveymonkey/survey_details.json",
        },
    ),
    Sample(
        "qualtrics-nps",
        "qualtrics",
        "qualtrics/completed_response.form",
        lambda b, u, n: (
            {"Content-Type": "application/x-www-form-urlencoded"},
            {"token": SECRETS["TEST_QUALTRICS_URL_TOKEN"]},
        ),
        api={"/responses/R_suq806jn8LGzhx7": "qualtrics/response.json"},
    ),
    Sample(
        "delighted-nps",
        "delighted",
        "delighted/survey_response_created.json",
        lambda b, u, n: (
            _json(
                {"X-Delighted-Webhook-Signature": "sha256=" + hex_hmac(SECRETS["TEST_DELIGHTED_API_KEY"], b)}
            ),
            {},
        ),
    ),
    Sample("jotform-feedback", "jotform", "jotform/submission.multipart", _jotform),
    Sample("zendesk-support", "zendesk", "zendesk/comment_added.json", _zendesk, timestamped=True),
    Sample("generic-acme", "generic", "generic/acme_forms_batch.json", _acme, timestamped=True),
    Sample("facebook-page", "facebook", "meta/page_feed_batch.json", lambda b, u, n: (meta_headers(b), {})),
    Sample(
        "instagram-brand", "instagram", "meta/instagram_comments.json", lambda b, u, n: (meta_headers(b), {})
    ),
    Sample(
        "whatsapp-business", "whatsapp", "meta/whatsapp_messages.json", lambda b, u, n: (meta_headers(b), {})
    ),
    Sample(
        "discourse-community",
        "discourse",
        "discourse/post_created.json",
        lambda b, u, n: (discourse_headers(b, "post_created"), {}),
    ),
    Sample(
        "slack-community",
        "slack",
        "slack/message.json",
        lambda b, u, n: (slack_headers(b, timestamp=int(n)), {}),
        timestamped=True,
    ),
    Sample(
        "salesforce",
        "salesforce",
        "salesforce/outbound_message.xml",
        lambda b, u, n: (
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "notifications"},
            {"token": SECRETS["TEST_SALESFORCE_URL_TOKEN"]},
        ),
    ),
    Sample(
        "zoho",
        "zoho",
        "zoho/notification.json",
        lambda b, u, n: (_json({}), {}),
        api={"/oauth/v2/token": "zoho/token_response.json", "/crm/v8/Contacts": "zoho/records.json"},
    ),
    Sample(
        "pipedrive",
        "pipedrive",
        "pipedrive/person_change.json",
        lambda b, u, n: (
            _json({"Authorization": _basic("chorus", SECRETS["TEST_PIPEDRIVE_WEBHOOK_PASSWORD"])}),
            {},
        ),
    ),
    Sample(
        "dynamics",
        "dynamics",
        "dynamics/contact_update.json",
        lambda b, u, n: (_json({"x-chorus-key": SECRETS["TEST_DYNAMICS_WEBHOOK_KEY"]}), {}),
    ),
]


def available_samples(registry: dict[str, str] | None = None) -> list[Sample]:
    """The samples whose provider is registered and whose connector file and fixture exist."""
    if registry is None:
        from chalicelib.providers import REGISTRY as registry
    return [
        s
        for s in SAMPLES
        if s.provider in registry
        and (FIXTURES / s.fixture).is_file()
        and (CONNECTORS / f"{s.connector_id}.yaml").is_file()
    ]


def sample_emails() -> set[str]:
    """Every email address in every fixture: none may ever reach a log line."""
    import re

    pattern = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
    found: set[str] = set()
    for path in FIXTURES.rglob("*"):
        if path.is_file():
            found |= {m.decode() for m in pattern.findall(path.read_bytes())}
    return found
