"""The closed loop: moments that become CRM actions, without over-asking anyone.

Runs inside refresh_person, on the interaction just stored and the recomputed person (before
it is written, so one write and one sync decision carry both):
  detractor_answer          an NPS answer <= loop.detractor_max_nps          -> follow_up_task
  angry_public_post         a public post/comment/mention/review with
                            sentiment <= loop.angry_max_sentiment           -> follow_up_task
  promoter_posted_publicly  latest NPS >= loop.promoter_min_nps and at least
                            one positive public mention of the brand, when
                            this interaction is the answer or the post      -> advocate_candidate
Each action is stored once per person, rule and interaction (a stable id), at most one per
person and rule per cooldown (a conditional write on the person's L#{rule} item), and never for
a person a CRM marked do-not-contact (a change notification setting one of
loop.do_not_contact_properties). The newest action goes on the Person as `latest_action`; the
advocate record carries it (latest_action, latest_action_reason, latest_action_at) to every
sink, where a CRM workflow turns it into a task for the contact's owner or an advocate list.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from ..config.models import LoopSettings
from ..hub import Hub
from ..schema import Action, Interaction, Person
from .scoring import PUBLIC_KINDS

log = logging.getLogger("chorus_hub.loop")
TRUTHY = {"true", "1", "yes", "y", "on"}


def action_id(person_id: str, rule: str, interaction_id: str) -> str:
    return hashlib.sha256(f"{person_id}\x1f{rule}\x1f{interaction_id}".encode()).hexdigest()[:32]


def moments(person: Person, interaction: Interaction, settings: LoopSettings) -> list[tuple[str, str, str]]:
    """(rule, action kind, reason) for each rule this interaction fires. Pure."""
    found: list[tuple[str, str, str]] = []
    if interaction.deleted or interaction.kind == "crm_update":
        return found
    nps = interaction.nps
    if settings.detractor_answer.enabled and nps is not None and nps <= settings.detractor_max_nps:
        found.append(("detractor_answer", "follow_up_task", f"NPS {nps} (detractor)"))
    sentiment = interaction.sentiment.score if interaction.sentiment else None
    public_post = interaction.kind in PUBLIC_KINDS and interaction.public
    if (
        settings.angry_public_post.enabled
        and public_post
        and sentiment is not None
        and sentiment <= settings.angry_max_sentiment
    ):
        found.append(
            (
                "angry_public_post",
                "follow_up_task",
                f"public {interaction.kind} on {interaction.provider} with sentiment {sentiment:+.2f}",
            )
        )
    stats = person.stats
    is_trigger = (nps is not None and nps >= settings.promoter_min_nps) or (
        public_post and sentiment is not None and sentiment > 0
    )
    if (
        settings.promoter_posted_publicly.enabled
        and is_trigger
        and stats.latest_nps is not None
        and stats.latest_nps >= settings.promoter_min_nps
        and stats.public_positive_mentions > 0
    ):
        found.append(
            (
                "promoter_posted_publicly",
                "advocate_candidate",
                f"promoter (NPS {stats.latest_nps}) with {stats.public_positive_mentions} "
                f"positive public mention(s)",
            )
        )
    return found


def apply_loop(
    hub: Hub, person: Person, interaction: Interaction, timeline: list[Interaction], now: datetime
) -> list[Action]:
    """Called by refresh_person on the recomputed person before it is written: set
    do_not_contact from the timeline, then store the actions this interaction calls for and put
    the newest on the person (a changed latest_action makes the record sync-worthy).
    Safe to repeat: action ids are stable, the cap lets the same interaction through again."""
    settings = hub.settings.loop
    if not settings.enabled:
        return []
    consent = do_not_contact(timeline, settings.do_not_contact_properties)
    if consent is not None:
        person.do_not_contact = consent
    if person.do_not_contact:
        return []
    store = hub.store
    actions: list[Action] = []
    for rule, kind, reason in moments(person, interaction, settings):
        rule_settings = getattr(settings, rule)
        days = (
            rule_settings.cooldown_days if rule_settings.cooldown_days is not None else settings.cooldown_days
        )
        if not store.claim_loop_slot(
            person.person_id, rule, interaction.interaction_id, now, timedelta(days=days).total_seconds()
        ):
            log.info("loop capped", extra={"rule": rule, "person_id": person.person_id})
            continue
        action = Action(
            action_id=action_id(person.person_id, rule, interaction.interaction_id),
            kind=kind,
            rule=rule,
            person_id=person.person_id,
            interaction_id=interaction.interaction_id,
            connector_id=interaction.connector_id,
            reason=reason,
            created_at=interaction.received_at or now,
        )  # stable across redeliveries
        store.put_action(action)  # False on a retry: the action is already there, same id
        actions.append(action)
    for action in actions:
        latest = person.latest_action
        if latest is None or latest.action_id == action.action_id or latest.created_at <= action.created_at:
            person.latest_action = action
    return actions


def do_not_contact(timeline: list[Interaction], properties: list[str]) -> bool | None:
    """The newest CRM change of a do-not-contact property decides (true sets, false clears);
    None when the timeline has none. Out-of-order notifications settle on the newest. A CRM's
    privacy deletion (HubSpot contact.privacyDeletion) sets it for good."""
    if any(i.crm_change is not None and i.crm_change.event == "privacy_delete" for i in timeline):
        return True  # they had a CRM erase them: never asked anything again, whatever follows
    names = set(properties)
    changes = [
        (i, i.crm_change) for i in timeline if i.crm_change is not None and i.crm_change.property in names
    ]
    if not changes:
        return None
    _, newest = max(changes, key=lambda pair: (pair[0].occurred_at, pair[0].interaction_id))
    return (newest.value or "").strip().lower() in TRUTHY
