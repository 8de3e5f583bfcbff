"""Provider registry: name -> class, imported lazily so a cold start loads only what it uses.

Adding a provider is one module, one fixture folder and one line here.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Provider

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
}


def known_providers() -> list[str]:
    return sorted(REGISTRY)


@cache
def get_provider(name: str) -> Provider:
    """The provider instance for `name`; KeyError when no such provider is registered."""
    target = REGISTRY[name]
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()
