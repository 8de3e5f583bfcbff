"""Every CRM keeps the same promises, asserted on what its behavioural fake ends up holding after
real traffic (a survey in, the queue workers, the sync out; the CRM's own notifications in):

- the contact gets the email as the person typed it, and the second write goes by record id;
- an email changed in the CRM is not undone, and no second contact appears;
- a contact that predates Chorus is matched, not duplicated;
- a contact deleted in the CRM (notified, or found gone by a write) is not created again under
  on_crm_delete: keep_deleted, and is under recreate.

A privacy deletion is notified by HubSpot only (contact.privacyDeletion):
tests/sync/test_crm_records.py asserts it is never written again.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import responses

from tests.support.crm import drain
from tests.support.crm_fakes.dynamics import FakeDataverse
from tests.support.crm_fakes.hubspot import FakeHubSpot
from tests.support.crm_fakes.pipedrive import FakePipedrive
from tests.support.crm_fakes.salesforce import FakeSalesforce
from tests.support.crm_fakes.zoho import FakeZoho
from tests.support.crm_notify import (
    dynamics_deleted,
    hubspot_deleted,
    pipedrive_deleted,
    send_survey,
    zoho_changed,
    zoho_deleted,
)
from tests.support.paths import CONNECTORS, CRM_CONNECTORS, SINK_CONNECTORS

TYPED = " Maya.Chen+beta@GMail.com "
WRITTEN = "Maya.Chen+beta@gmail.com"  # trimmed, domain lower-cased, nothing else


@dataclass(frozen=True)
class Crm:
    id: str  # the connector's id and provider
    fake: Callable[[], Any]
    folder: Path  # where its connector file is
    notify_deleted: Callable[[Any, str], None] | None  # its deletion notification, if it sends one


CRMS = [
    Crm("hubspot", FakeHubSpot, SINK_CONNECTORS, hubspot_deleted),
    Crm("salesforce", FakeSalesforce, CRM_CONNECTORS, None),  # Outbound Messages cannot fire on delete
    Crm("zoho", FakeZoho, CRM_CONNECTORS, zoho_deleted),
    Crm("pipedrive", FakePipedrive, CRM_CONNECTORS, pipedrive_deleted),
    Crm("dynamics", FakeDataverse, CRM_CONNECTORS, dynamics_deleted),
]


class Run:
    """The hub with Typeform and one CRM both ways, and that CRM's fake."""

    def __init__(self, spec: Crm, client, hub, fake):
        self.spec, self.client, self.hub, self.fake = spec, client, hub, fake

    def survey(self, email: str = TYPED, nps: int = 9, n: int = 1) -> None:
        send_survey(self.client, email, nps=nps, token=f"t{n}", hour=8 + n)
        drain(self.hub)

    def deleted(self, contact_id: str, notified: bool) -> None:
        """The CRM deletes the contact, some minutes after Chorus created it (past the create
        claim's lease: until then a CRM without an upsert waits for the create it recorded)."""
        from chalicelib.schema import utcnow

        self.fake.delete(contact_id)
        self.hub.clock = lambda: utcnow() + timedelta(minutes=10)
        if notified:
            self.spec.notify_deleted(self.client, contact_id)
            drain(self.hub)

    def state(self):
        [person] = self.hub.store.advocates(-1000, 10)
        return self.hub.store.get_sync_states([(person.person_id, self.spec.id)])[
            (person.person_id, self.spec.id)
        ]


@pytest.fixture(params=CRMS, ids=[c.id for c in CRMS])
def crm(request, client, tmp_path, use_connectors, monkeypatch):
    yield from _run(request.param, client, tmp_path, use_connectors, monkeypatch, on_crm_delete=None)


@pytest.fixture(params=CRMS, ids=[c.id for c in CRMS])
def recreating_crm(request, client, tmp_path, use_connectors, monkeypatch):
    yield from _run(request.param, client, tmp_path, use_connectors, monkeypatch, on_crm_delete="recreate")


def _run(spec: Crm, client, tmp_path, use_connectors, monkeypatch, on_crm_delete):
    from chalicelib.providers import oauth
    from chalicelib.runtime.aws import get_hub

    folder = tmp_path / "conf"
    folder.mkdir()
    shutil.copy(CONNECTORS / "typeform-nps.yaml", folder)
    text = (spec.folder / f"{spec.id}.yaml").read_text()
    (folder / f"{spec.id}.yaml").write_text(
        text + (f"on_crm_delete: {on_crm_delete}\n" if on_crm_delete else "")
    )
    use_connectors(folder)
    monkeypatch.setattr("chalicelib.providers.http._sleep", lambda seconds: None)
    oauth.clear_cache()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield Run(spec, client, get_hub(), spec.fake().install(mock))
    oauth.clear_cache()


def test_the_contact_gets_the_email_as_typed_and_the_next_write_goes_by_id(crm):
    crm.survey()
    [contact] = crm.fake.contacts
    assert crm.fake.email_of(contact) == WRITTEN and crm.fake.creates == 1
    crm.survey(nps=3, n=2)
    assert list(crm.fake.contacts) == [contact] and crm.fake.by_id == [contact]
    assert crm.fake.email_of(contact) == WRITTEN and crm.fake.creates == 1


def test_an_email_changed_in_the_crm_is_not_undone_and_not_duplicated(crm):
    crm.survey()
    [contact] = crm.fake.contacts
    crm.fake.set_email(contact, "maya@newcompany.example")  # a sales rep edits the contact
    crm.survey(nps=3, n=2)  # Maya answers again from the address she typed before
    assert list(crm.fake.contacts) == [contact] and crm.fake.by_id == [contact]
    assert crm.fake.email_of(contact) == "maya@newcompany.example"


def test_a_contact_that_predates_chorus_is_matched_not_duplicated(crm):
    existing = crm.fake.add("maya.chen@example.com")
    crm.survey("maya.chen@example.com")
    assert list(crm.fake.contacts) == [existing] and crm.fake.creates == 0
    assert (
        crm.fake.score(existing) not in (None, "") and crm.fake.email_of(existing) == "maya.chen@example.com"
    )
    crm.survey("maya.chen@example.com", nps=3, n=2)
    assert list(crm.fake.contacts) == [existing] and crm.fake.by_id[-1] == existing


@pytest.mark.parametrize("notified", [True, False], ids=["notified", "found_on_write"])
def test_a_contact_deleted_in_the_crm_is_not_created_again(crm, notified):
    if notified and crm.spec.notify_deleted is None:
        pytest.skip(f"{crm.spec.id} sends no deletion notification")
    crm.survey()
    [contact] = crm.fake.contacts
    crm.deleted(contact, notified)
    if notified:  # the notification alone drops the link and tombstones the record
        assert crm.state().crm_deleted == "deleted" and crm.state().crm_id == contact
    crm.survey(nps=3, n=2)
    crm.survey(nps=10, n=3)
    assert crm.fake.contacts == {} and crm.fake.creates == 1
    assert crm.fake.by_id == []  # nothing written since
    state = crm.state()
    assert state.crm_deleted == "deleted" and "keep_deleted" in state.skipped_reason
    assert crm.hub.store.dead_letters(crm.spec.id, 10) == []


@pytest.mark.parametrize("notified", [True, False], ids=["notified", "found_on_write"])
def test_under_recreate_a_deleted_contact_is_created_again_with_the_typed_email(recreating_crm, notified):
    crm = recreating_crm
    if notified and crm.spec.notify_deleted is None:
        pytest.skip(f"{crm.spec.id} sends no deletion notification")
    crm.survey()
    [contact] = crm.fake.contacts
    crm.deleted(contact, notified)
    if notified:  # the notification alone drops the link: the next write matches by email
        assert crm.state().crm_id is None and crm.state().crm_deleted is None
    crm.survey(nps=3, n=2)
    crm.survey(nps=10, n=3)
    [again] = crm.fake.contacts
    assert again != contact and crm.fake.email_of(again) == WRITTEN and crm.fake.creates == 2
    assert crm.hub.store.dead_letters(crm.spec.id, 10) == []


@pytest.fixture
def zoho(client, tmp_path, use_connectors, monkeypatch):
    yield from _run(CRMS[2], client, tmp_path, use_connectors, monkeypatch, on_crm_delete=None)


@pytest.fixture
def pipedrive(client, tmp_path, use_connectors, monkeypatch):
    yield from _run(CRMS[3], client, tmp_path, use_connectors, monkeypatch, on_crm_delete=None)


def test_a_record_zoho_notified_is_written_by_its_id(zoho):
    contact = zoho.fake.add("old.address@example.com")
    zoho.fake.set_email(contact, "maya.chen@example.com")  # a rep gives it Maya's address
    zoho_changed(zoho.client, contact)
    drain(zoho.hub)
    zoho.fake.set_email(contact, "maya@newcompany.example")  # and changes it again
    zoho.survey("maya.chen@example.com")
    assert list(zoho.fake.contacts) == [contact] and zoho.fake.by_id == [contact]
    assert zoho.fake.email_of(contact) == "maya@newcompany.example" and zoho.fake.creates == 0


def test_a_pipedrive_merge_moves_the_writes_to_the_surviving_person(pipedrive):
    pipedrive.survey()
    [merged] = pipedrive.fake.contacts
    survivor = pipedrive.fake.add("maya@newcompany.example")
    pipedrive.fake.delete(merged)  # merging deletes one person (merged_to_id) and changes the other
    pipedrive_deleted(pipedrive.client, merged, merged_to=survivor)
    drain(pipedrive.hub)
    pipedrive.survey(nps=3, n=2)
    assert list(pipedrive.fake.contacts) == [survivor] and pipedrive.fake.by_id == [survivor]
    assert pipedrive.fake.creates == 1 and pipedrive.state().crm_id == survivor
