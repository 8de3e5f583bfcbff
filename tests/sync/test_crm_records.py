"""The CRM of record stays clean: what a behavioural CRM ends up holding after real traffic.

Each test drives the whole pipeline (signed deliveries in, queue workers, sync out) against a
fake CRM that applies its API's semantics (tests/crm_fakes/), then asserts on what the CRM
holds, not only on the requests sent.
"""

from __future__ import annotations

import responses

from tests.support.crm import drain
from tests.support.crm_fakes.hubspot import FakeHubSpot
from tests.support.crm_fakes.salesforce import FakeSalesforce
from tests.support.crm_notify import hubspot_event, notify_hubspot, send_survey


@responses.activate
def test_the_crm_gets_the_email_as_typed_not_the_match_key(sink_client, sink_hub, workers):
    hubspot = FakeHubSpot().install()
    send_survey(sink_client, " Maya.Chen+beta@GMail.com ")
    workers.drain()
    assert hubspot.emails() == ["Maya.Chen+beta@gmail.com"]  # trimmed, domain lower-cased, nothing else
    [person] = sink_hub.store.advocates(-1000, 10)
    assert person.email == "Maya.Chen+beta@gmail.com"
    assert "email#mayachen@gmail.com" in {r.key for r in person.identities}  # the match key


@responses.activate
def test_a_dotted_gmail_contact_known_to_the_crm_is_updated_not_duplicated(sink_client, sink_hub, workers):
    hubspot = FakeHubSpot().install()
    existing = hubspot.create("maya.chen@gmail.com", firstname="Maya")
    send_survey(sink_client, "maya.chen@gmail.com")
    workers.drain()
    assert list(hubspot.contacts) == [existing] and hubspot.contacts[existing]["chorus_latest_nps"] == "9"
    # the same person writes again from the undotted form Gmail treats as the same mailbox
    send_survey(sink_client, "mayachen@gmail.com", nps=10, token="t2", hour=10)
    workers.drain()
    assert list(hubspot.contacts) == [existing] and hubspot.contacts[existing]["chorus_latest_nps"] == "10"


# ---- HubSpot: writes by object id, CRM-side edits and deletions -------------------------------
@responses.activate
def test_an_email_changed_in_hubspot_updates_that_contact_and_never_duplicates_it(
    sink_client, sink_hub, workers
):
    hubspot = FakeHubSpot().install()
    send_survey(sink_client, "maya.chen@example.com")
    workers.drain()
    [contact] = hubspot.contacts
    # a sales rep changes the email in HubSpot; HubSpot notifies the property change
    hubspot.contacts[contact]["email"] = "maya@newcompany.example"
    notify_hubspot(
        sink_client,
        hubspot_event(
            contact, "contact.propertyChange", propertyName="email", propertyValue="maya@newcompany.example"
        ),
    )
    workers.drain()
    [person] = sink_hub.store.advocates(-1000, 10)
    assert person.email == "maya@newcompany.example"  # the person's email link follows the CRM
    # Maya answers again from her old address: the same contact is updated, by its id
    send_survey(sink_client, "maya.chen@example.com", nps=10, token="t2", hour=10)
    workers.drain()
    assert hubspot.emails() == ["maya@newcompany.example"]
    assert hubspot.contacts[contact]["chorus_latest_nps"] == "10"
    assert hubspot.calls[-1][0] == "update" and hubspot.calls[-1][1]["inputs"][0]["id"] == contact
    assert "email" not in hubspot.calls[-1][1]["inputs"][0]["properties"]  # the CRM's email is its own


@responses.activate
def test_a_contact_hubspot_notified_is_written_by_its_id(sink_client, sink_hub, workers):
    hubspot = FakeHubSpot().install()
    contact = hubspot.create("old.address@example.com")
    # HubSpot tells Chorus about its contact first (created by a rep, with the address Maya uses)
    notify_hubspot(
        sink_client,
        hubspot_event(
            contact, "contact.propertyChange", propertyName="email", propertyValue="maya.chen@example.com"
        ),
    )
    hubspot.contacts[contact]["email"] = "maya.chen@example.com"
    workers.drain()
    send_survey(sink_client, "maya.chen@example.com")
    workers.drain()
    assert [c for c, _ in hubspot.calls] == ["update"] and list(hubspot.contacts) == [contact]


@responses.activate
def test_a_contact_deleted_in_hubspot_is_not_recreated(sink_client, sink_hub, workers):
    hubspot = FakeHubSpot().install()
    send_survey(sink_client, "maya.chen@example.com")
    workers.drain()
    [contact] = hubspot.contacts
    hubspot.delete(contact)
    notify_hubspot(sink_client, hubspot_event(contact, "contact.deletion", changeFlag="DELETED"))
    workers.drain()
    send_survey(sink_client, "maya.chen@example.com", nps=3, token="t2", hour=10)
    workers.drain()
    assert hubspot.contacts == {} and len(hubspot.calls) == 1  # nothing written after the deletion
    [person] = sink_hub.store.advocates(-1000, 10)
    assert f"hubspot#{contact}" not in {r.key for r in person.identities}  # the link is dropped
    [state] = sink_hub.store.get_sync_states([(person.person_id, "hubspot")]).values()
    assert state.crm_deleted == "deleted" and "keep_deleted" in state.skipped_reason
    # HubSpot restores the contact: Chorus writes to it again, by its id
    hubspot.contacts[contact] = {"email": "maya.chen@example.com"}
    notify_hubspot(sink_client, hubspot_event(contact, "contact.restore"))
    workers.drain()
    send_survey(sink_client, "maya.chen@example.com", nps=9, token="t3", hour=11)
    workers.drain()
    assert list(hubspot.contacts) == [contact] and hubspot.calls[-1][0] == "update"


@responses.activate
def test_a_privacy_deletion_is_never_written_again_and_the_loop_asks_nothing(sink_client, sink_hub, workers):
    hubspot = FakeHubSpot().install()
    send_survey(sink_client, "maya.chen@example.com")
    workers.drain()
    [contact] = hubspot.contacts
    hubspot.delete(contact)
    notify_hubspot(sink_client, hubspot_event(contact, "contact.privacyDeletion"))
    workers.drain()
    # a detractor answer would open a follow-up task; the person asked the CRM to forget them
    send_survey(sink_client, "maya.chen@example.com", nps=2, token="t2", hour=10)
    workers.drain()
    assert hubspot.contacts == {} and len(hubspot.calls) == 1
    [person] = sink_hub.store.advocates(-1000, 10) or sink_hub.store.advocates(-10000, 10)
    assert person.do_not_contact and person.latest_action is None
    [state] = sink_hub.store.get_sync_states([(person.person_id, "hubspot")]).values()
    assert state.crm_deleted == "privacy_deleted"


@responses.activate
def test_a_contact_deleted_without_a_notification_is_found_gone_on_write(sink_client, sink_hub, workers):
    hubspot = FakeHubSpot().install()
    send_survey(sink_client, "maya.chen@example.com")
    workers.drain()
    [contact] = hubspot.contacts
    hubspot.delete(contact)  # the deletion webhook is not subscribed: the write finds out
    send_survey(sink_client, "maya.chen@example.com", nps=10, token="t2", hour=10)
    workers.drain()
    send_survey(sink_client, "maya.chen@example.com", nps=8, token="t3", hour=11)
    workers.drain()
    assert hubspot.contacts == {}
    assert [c for c, _ in hubspot.calls] == ["upsert", "update"]  # once by id: OBJECT_NOT_FOUND
    assert sink_hub.store.dead_letters("hubspot", 10) == []


@responses.activate
def test_recreate_writes_a_deleted_contact_again_by_email(
    sink_client, sink_hub, workers, tmp_path, use_connectors
):
    import shutil

    from tests.support.paths import SINK_CONNECTORS

    folder = tmp_path / "conf"
    shutil.copytree(SINK_CONNECTORS, folder)
    (folder / "hubspot.yaml").write_text((folder / "hubspot.yaml").read_text() + "on_crm_delete: recreate\n")
    use_connectors(folder)
    from chalicelib.runtime.aws import get_hub

    hub = get_hub()
    hubspot = FakeHubSpot().install()
    send_survey(sink_client, "maya.chen@example.com")
    drain(hub)
    [contact] = hubspot.contacts
    hubspot.delete(contact)
    notify_hubspot(sink_client, hubspot_event(contact, "contact.deletion"))
    drain(hub)
    send_survey(sink_client, "maya.chen@example.com", nps=10, token="t2", hour=10)
    drain(hub)
    [again] = hubspot.contacts
    assert again != contact and hubspot.contacts[again]["email"] == "maya.chen@example.com"
    assert hubspot.calls[-1][0] == "upsert"


# ---- Salesforce: match by the standard Email before any create, then write by Id ---------------
def salesforce_hub(tmp_path, use_connectors):
    import shutil

    from chalicelib.runtime.aws import get_hub
    from tests.support.paths import CONNECTORS, CRM_CONNECTORS

    folder = tmp_path / "conf"
    folder.mkdir()
    shutil.copy(CONNECTORS / "typeform-nps.yaml", folder)
    shutil.copy(CRM_CONNECTORS / "salesforce.yaml", folder)
    use_connectors(folder)
    return get_hub()


@responses.activate
def test_salesforce_updates_the_contact_that_predates_chorus_instead_of_creating_one(
    client, tmp_path, use_connectors
):
    hub = salesforce_hub(tmp_path, use_connectors)
    org = FakeSalesforce().install()
    older = org.create(LastName="Chen", Email="Maya.Chen@example.com")  # no Chorus_Email__c
    org.create(LastName="Chen (dup)", Email="maya.chen@example.com")  # Email is not unique
    send_survey(client, "maya.chen@example.com")
    drain(hub)
    assert len(org.contacts) == 2 and org.calls == ["query", "update"]
    assert org.contacts[older]["Chorus_Latest_NPS__c"] == 9  # the oldest match, by Id
    assert (
        org.contacts[older]["LastName"] == "Chen" and org.contacts[older]["Email"] == "Maya.Chen@example.com"
    )
    # written by Id from now on; once deleted in Salesforce it is not created again
    org.delete(older)
    send_survey(client, "maya.chen@example.com", nps=10, token="t2", hour=10)
    drain(hub)
    send_survey(client, "maya.chen@example.com", nps=4, token="t3", hour=11)
    drain(hub)
    assert org.calls == ["query", "update", "update"] and older not in org.contacts
    assert hub.store.dead_letters("salesforce", 10) == []


@responses.activate
def test_salesforce_creates_only_when_no_contact_has_the_email(client, tmp_path, use_connectors):
    hub = salesforce_hub(tmp_path, use_connectors)
    org = FakeSalesforce().install()
    send_survey(client, "Maya.Chen+beta@example.com")
    drain(hub)
    [created] = org.contacts.values()
    assert org.calls == ["query", "upsert", "upsert"]  # looked up, then created (LastName on retry)
    assert created["Email"] == "Maya.Chen+beta@example.com" and created["LastName"]
