"""Admin API routes the console needs beyond the lists: one connector's expectations and a
signed test delivery, one dead letter (inspect, replay, discard), accepting a merge suggestion,
the closed loop's rules. Same admin authorization as every /admin route (app.py)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from chalice import BadRequestError, Response

from .hub import Hub
from .store.records import DeadLetter

DEAD_LETTER_PAGES = 20  # a connector's dead letters are few; an id is found within these pages


def connector_detail(hub: Hub, connector_id: str) -> dict[str, Any] | None:
    """What the provider expects at the connector's webhook URL, and whether the hub can sign;
    for a listener (which takes no webhooks) its feeds' health instead, as the list gives it."""
    from .admin import listener_health
    from .providers import get_provider
    from .providers.source import CannotSign, Source

    connector = hub.connectors.get(connector_id)
    if connector is None:
        return None
    config = connector.config
    provider = get_provider(connector.provider)
    listener = listener_health(hub, connector)
    detail: dict[str, Any] = {
        "id": connector_id,
        "provider": config.provider,
        "direction": config.direction,
        "description": config.description,
        "webhook_path": f"/webhooks/{connector_id}" if config.is_source and listener is None else None,
        "log_bodies": config.log_bodies,
        "listener": listener,
    }
    if isinstance(provider, Source) and config.is_source and listener is None:
        signature = provider.body_signature
        detail["expects"] = {
            "content_types": list(provider.content_types),
            "handshake_methods": list(provider.handshake_methods),
            "signature_header": signature.header if signature else None,
            "signature": "HMAC of the body" if signature else "the provider's own scheme (see its docs page)",
        }
        try:
            provider.sign_test_delivery(
                b"{}", connector, "http://localhost/webhooks/" + connector_id, time.time()
            )
            detail["can_sign_test_delivery"] = True
        except CannotSign:
            detail["can_sign_test_delivery"] = False
        except Exception:  # a secret that does not resolve: the hub cannot sign either
            detail["can_sign_test_delivery"] = False
    return detail


def send_test_delivery(hub: Hub, connector_id: str, body: bytes, base_url: str) -> dict[str, Any] | None:
    """Sign `body` as the connector's vendor would and put it through the webhook route in
    process, so it runs the whole pipeline: the answer the vendor would get, with its delivery id.
    The signature itself is never returned."""
    from .errors import ChorusError
    from .pipeline.ingest import receive_webhook
    from .providers.base import InboundRequest
    from .providers.source import CannotSign
    from .sample_delivery import signed_request

    connector = hub.connectors.get(connector_id)
    if connector is None or not connector.config.is_source:
        return None
    if not body.strip():
        raise BadRequestError("give the body to send (a sample from the vendor's docs)")
    try:
        signed = signed_request(connector, body, base_url)
    except (CannotSign, ChorusError) as exc:
        raise BadRequestError(f"the hub cannot sign for this connector: {exc}") from None
    path, _, raw_query = signed.url.partition("?")
    from urllib.parse import parse_qsl, urlsplit

    request = InboundRequest(
        method="POST",
        url=signed.url,
        path=urlsplit(path).path,
        headers=signed.headers,
        query=dict(parse_qsl(raw_query)),
        body=body,
    )
    answer = receive_webhook(hub, connector_id, request)
    return {
        "status": answer.status,
        "delivery_id": answer.headers.get("X-Chorus-Delivery-Id"),
        "answer": answer.body if isinstance(answer.body, (dict, list, str)) else None,
    }


# ---- one dead letter ----------------------------------------------------------------------------
def find_dead_letter(hub: Hub, connector_id: str, letter_id: str) -> DeadLetter | None:
    cursor = None
    for _ in range(DEAD_LETTER_PAGES):
        letters, cursor = hub.store.dead_letters_page(connector_id, 200, cursor)
        for letter in letters:
            if letter.dead_letter_id == letter_id:
                return letter
        if not cursor:
            return None
    return None


def dead_letter_document(letter: DeadLetter) -> dict[str, Any]:
    """The whole dead letter: its reason, attempts and the message (the delivery's envelope:
    kept headers and body, which admins may need to see to fix a parser)."""
    return {**asdict(letter), "created_at": letter.created_at.isoformat()}


def replay_dead_letter(hub: Hub, letter: DeadLetter) -> dict[str, Any] | Response:
    from .deadletters import replay_letter

    if not replay_letter(hub, letter):
        return Response(
            body={"error": "cannot_replay", "message": "the message is unreadable; discard it instead"},
            status_code=409,
        )
    return {"replayed": 1}


def discard_dead_letter(hub: Hub, letter: DeadLetter) -> dict[str, Any]:
    hub.store.delete_dead_letter(letter)
    return {"discarded": 1}


# ---- identity graph and loop ----------------------------------------------------------------------
def accept_merge(hub: Hub, payload: Any) -> Any:
    """POST /admin/merges {"survivor_id", "merged_id"}: accept a suggestion (merge_people)."""
    from .pipeline.merge import CannotUnmerge, merge_people

    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(k), str) for k in ("survivor_id", "merged_id")
    ):
        raise BadRequestError('give {"survivor_id": ..., "merged_id": ...}')
    survivor, merged = payload["survivor_id"], payload["merged_id"]
    if survivor == merged or hub.store.get_person(survivor) is None or hub.store.get_person(merged) is None:
        return Response(
            body={"error": "not_found", "message": "both persons must exist and differ"}, status_code=404
        )
    try:
        record = merge_people(hub, survivor, merged, reason="merge suggestion accepted in the console")
    except CannotUnmerge as exc:
        return Response(body={"error": exc.reason, "message": str(exc)}, status_code=exc.status)
    return record.model_dump(mode="json", exclude={"moved_identities", "evidence"})


def loop_rules(hub: Hub) -> dict[str, Any]:
    """The closed loop's rules as configured: whether each runs and its cooldown in days."""
    loop = hub.settings.loop
    rules = []
    for name in ("detractor_answer", "angry_public_post", "promoter_posted_publicly"):
        rule = getattr(loop, name)
        rules.append(
            {
                "rule": name,
                "enabled": loop.enabled and rule.enabled,
                "cooldown_days": rule.cooldown_days if rule.cooldown_days is not None else loop.cooldown_days,
            }
        )
    return {"enabled": loop.enabled, "rules": rules}
