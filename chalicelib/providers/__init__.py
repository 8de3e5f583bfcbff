"""Provider registry: name -> class, imported lazily so a cold start loads only what it uses.

Adding a provider is one module, one fixture folder (tests/fixtures/<name>/) and one line
here; the conformance suite (tests/conformance/) is generated from this table.
A provider's roles come from its class: a `Source`, a `Sink`, or both.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .base import Provider
    from .sink import Sink
    from .source import Source

Role = Literal["source", "sink"]

REGISTRY: dict[str, str] = {
    "typeform": "chalicelib.providers.typeform:TypeformProvider",
    "surveymonkey": "chalicelib.providers.surveymonkey:SurveyMonkeyProvider",
    "qualtrics": "chalicelib.providers.qualtrics:QualtricsProvider",
    "delighted": "chalicelib.providers.delighted:DelightedProvider",
    "jotform": "chalicelib.providers.jotform:JotformProvider",
    "zendesk": "chalicelib.providers.zendesk:ZendeskProvider",
    "generic": "chalicelib.providers.generic_source:GenericSourceProvider",
    "x": "chalicelib.providers.x:XProvider",
    "hubspot": "chalicelib.providers.hubspot:HubSpotProvider",
    "file": "chalicelib.providers.file_sink:FileSinkProvider",
    "salesforce": "chalicelib.providers.salesforce:SalesforceProvider",
    "zoho": "chalicelib.providers.zoho:ZohoProvider",
    "pipedrive": "chalicelib.providers.pipedrive:PipedriveProvider",
    "dynamics": "chalicelib.providers.dynamics:DynamicsProvider",
    "webhook": "chalicelib.providers.webhook_sink:WebhookSinkProvider",
    "facebook": "chalicelib.providers.meta:FacebookProvider",
    "instagram": "chalicelib.providers.meta:InstagramProvider",
    "whatsapp": "chalicelib.providers.meta:WhatsAppProvider",
    "discourse": "chalicelib.providers.discourse:DiscourseProvider",
    "slack": "chalicelib.providers.slack:SlackProvider",
    "youtube": "chalicelib.providers.youtube:YouTubeProvider",
    "intercom": "chalicelib.providers.intercom:IntercomProvider",
    "hackernews": "chalicelib.providers.hackernews:HackerNewsProvider",
    "rss": "chalicelib.providers.rss:RssProvider",
    "bluesky": "chalicelib.providers.bluesky:BlueskyProvider",
    "mastodon": "chalicelib.providers.mastodon:MastodonProvider",
    "reddit": "chalicelib.providers.reddit:RedditProvider",
    "youtube_comments": "chalicelib.providers.youtube_comments:YouTubeCommentsProvider",
    "app_store_reviews": "chalicelib.providers.app_store_reviews:AppStoreReviewsProvider",
    "google_play_reviews": "chalicelib.providers.google_play_reviews:GooglePlayReviewsProvider",
    "linkedin": "chalicelib.providers.linkedin:LinkedInProvider",
}


def known_providers() -> list[str]:
    return sorted(REGISTRY)


@cache
def get_provider(name: str) -> Provider:
    """The provider instance for `name`; KeyError when no such provider is registered."""
    target = REGISTRY[name]
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def roles(name: str) -> frozenset[Role]:
    """Which roles the provider has; KeyError when no such provider is registered."""
    from .sink import Sink
    from .source import Source

    provider = get_provider(name)
    found: set[Role] = set()
    if isinstance(provider, Source):
        found.add("source")
    if isinstance(provider, Sink):
        found.add("sink")
    return frozenset(found)


def get_source(name: str) -> Source:
    """The provider as a source; KeyError when it is not registered or is not a source."""
    from .source import Source

    provider = get_provider(name)
    if not isinstance(provider, Source):
        raise KeyError(f"provider '{name}' is not a source")
    return provider


def get_sink(name: str) -> Sink:
    """The provider as a sink; KeyError when it is not registered or is not a sink."""
    from .sink import Sink

    provider = get_provider(name)
    if not isinstance(provider, Sink):
        raise KeyError(f"provider '{name}' is not a sink")
    return provider
