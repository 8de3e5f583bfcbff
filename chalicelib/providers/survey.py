"""What every survey source does the same way: hidden fields become identity links, free-text
answers are joined as text labelled by question, NPS is a whole number 0-10, and a response
becomes one `survey_response` Interaction whose id is stable across later edits.

Used by Typeform, SurveyMonkey, Qualtrics, Delighted, Jotform and the generic source.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import UpstreamError
from ..schema import Author, IdentityRef, Interaction, Rating
from .http import call_api, raise_for_permanent
from .signatures import verify_shared_secret
from .source import new_interaction


class SurveyOptions(BaseModel):
    """Options every survey source accepts. Providers subclass it to add their own."""

    model_config = ConfigDict(extra="forbid")
    hidden_fields: dict[str, str] = Field(
        default_factory=dict,
        description="Hidden field (or person property) name -> identity namespace "
        "(email, x_handle, hubspot...). The respondent is linked to those identities.",
    )


def hidden_links(values: Mapping[str, Any] | None, hidden_fields: Mapping[str, str]) -> list[IdentityRef]:
    """IdentityRefs for the hidden fields the connector file names, skipping empty ones.

    >>> hidden_links({"uid": "42", "x": ""}, {"uid": "hubspot", "x": "x_handle"})
    [IdentityRef(namespace='hubspot', value='42')]
    """
    values = values or {}
    return [
        IdentityRef(namespace=namespace, value=str(values[name]).strip())
        for name, namespace in hidden_fields.items()
        if values.get(name) is not None and str(values[name]).strip()
    ]


def labelled_text(answers: Iterable[tuple[str, Any]]) -> str | None:
    """Free-text answers as "Question: answer" lines; empty answers are left out.

    >>> labelled_text([("Why?", "Fast support"), ("Else?", "")])
    'Why?: Fast support'
    """
    return "\n".join(f"{label}: {value}" for label, value in _given(answers)) or None


def answer_words(answers: Iterable[tuple[str, Any]]) -> str | None:
    """The free-text answers alone, one per line: the respondent's words, which enrichment reads.
    The questions are the company's: "...tell a friend about us?" scores positive on its own.

    >>> print(answer_words([("Why?", "Fast support"), ("Else?", " "), ("Plan?", "Pro")]))
    Fast support
    Pro
    """
    return "\n".join(value for _, value in _given(answers)) or None


def _given(answers: Iterable[tuple[str, Any]]) -> Iterator[tuple[str, str]]:
    """(label, answer) of each answer that is not empty, the answer stripped."""
    for label, value in answers:
        text = str(value).strip() if value is not None else ""
        if text:
            yield label, text


def nps_value(value: Any) -> int | None:
    """An NPS answer as 0-10, or None when absent. A value outside the scale is a ValueError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = int(float(value))
    if not 0 <= number <= 10:
        raise ValueError(f"NPS answer {number} is outside 0-10")
    return number


def survey_response(
    provider: str,
    connector: Any,
    *,
    external_id: str,
    event_id: str,
    event_type: str | None,
    occurred_at: datetime,
    updated_at: datetime | None = None,
    email: str | None = None,
    display_name: str | None = None,
    answers: Iterable[tuple[str, Any]] = (),
    nps: Any = None,
    rating: Rating | None = None,
    ratings: Iterable[Rating] = (),
    hidden: Mapping[str, Any] | None = None,
    links: Iterable[IdentityRef] = (),
    thread_id: str | None = None,
    url: str | None = None,
) -> Interaction:
    """One response as one Interaction. The id depends only on (connector, external_id), so an
    edited response replaces the stored one; `updated_at` decides which version is newer."""
    hidden_fields = getattr(connector.options, "hidden_fields", {}) or {}
    answers, ratings = list(answers), list(ratings)
    return new_interaction(
        provider,
        connector,
        external_id,
        kind="survey_response",
        event_id=event_id,
        event_type=event_type,
        occurred_at=occurred_at,
        updated_at=updated_at,
        text=labelled_text(answers),
        url=url,
        author=Author(email=email or None, display_name=display_name or None),
        links=[*links, *hidden_links(hidden, hidden_fields)],
        nps=nps_value(nps),
        rating=rating or (ratings[0] if ratings else None),
        ratings=ratings or ([rating] if rating else []),
        thread_id=thread_id,
        public=False,
    ).authored(answer_words(answers))


def verify_url_token(query: Mapping[str, str], secret: str, name: str = "token") -> None:
    """For providers that sign nothing (Jotform, Qualtrics): the webhook URL carries an
    unguessable `?token=`, compared in constant time with the connector's signing secret."""
    verify_shared_secret(query.get(name), secret, f"the webhook URL's '{name}' query parameter")


def fetch_json(http: Any, url: str, headers: Mapping[str, str], what: str) -> Any:
    """GET a provider's API for a notification that carries only an id. 429/5xx/timeouts raise
    UpstreamError(retryable=True) so the queue redelivers; 401/403/404 are permanent."""
    response = call_api(http, "GET", url, headers=dict(headers), attempts=3)
    raise_for_permanent(response, what)
    try:
        return response.json()
    except ValueError:
        raise UpstreamError(
            f"{what}: the API answered {response.status_code} without JSON",
            retryable=True,
            status=response.status_code,
        ) from None
