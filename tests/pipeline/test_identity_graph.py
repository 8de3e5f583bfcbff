"""The identity graph: evidence and confidence on links, merges and their undo, suggestions,
concurrent first contact, and normalisation of emails and phones before matching."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.pipeline.identity import author_links, normalise_email, normalise_phone
from chalicelib.pipeline.merge import CannotUnmerge, UnknownMerge, merge_people, unmerge
from chalicelib.pipeline.process import ProcessOutcome, apply_interaction, process_message
from chalicelib.schema import Author, IdentityRef, Interaction
from chalicelib.store.base import VersionConflict
from tests.support.backends import person_ids
from tests.support.senders import fixture_json

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def item(
    iid: str,
    *,
    connector: str = "typeform-nps",
    provider: str = "typeform",
    kind: str = "survey_response",
    email: str | None = None,
    handle: str | None = None,
    user_id: str | None = None,
    phone: str | None = None,
    links: dict[str, str] | None = None,
    minutes: int = 0,
) -> Interaction:
    return Interaction(
        interaction_id=iid,
        connector_id=connector,
        provider=provider,
        kind=kind,
        external_id=iid,
        event_id=f"evt-{iid}",
        occurred_at=T0 + timedelta(minutes=minutes),
        author=Author(email=email, handle=handle, provider_user_id=user_id, phone=phone),
        links=[IdentityRef(namespace=ns, value=v) for ns, v in (links or {}).items()],
    )


def deliver(hub, interaction: Interaction) -> str:
    assert apply_interaction(hub, hub.connectors.get(interaction.connector_id), interaction, ProcessOutcome())
    return interaction.person_id


def owner(hub, key: str) -> str | None:
    namespace, value = key.split("#", 1)
    return hub.store.find_identities([IdentityRef(namespace=namespace, value=value)]).get(key)


@pytest.fixture
def sent_jobs(hub, monkeypatch):
    jobs: list[dict] = []
    monkeypatch.setattr(hub.sync_queue, "send_many", lambda batch: jobs.extend(batch))
    return jobs


# ---- evidence and confidence ---------------------------------------------------------------------
def test_each_link_records_its_evidence_and_confidence(hub):
    interaction = item("r1", email="Ada@Example.com", links={"x_handle": "@Ada_X", "hubspot": "42"})
    person_id = deliver(hub, interaction)
    person = hub.store.get_person(person_id)
    links = {link.key: link for link in person.links}
    assert (links["email#ada@example.com"].evidence, links["email#ada@example.com"].confidence) == (
        "same_email",
        0.95,
    )
    # hubspot is a CRM (its provider can be a sink): a CRM record id in a hidden field is a CRM property
    assert (links["hubspot#42"].evidence, links["hubspot#42"].confidence) == ("crm_property", 1.0)
    assert (links["x_handle#ada_x"].evidence, links["x_handle#ada_x"].confidence) == ("hidden_field", 0.7)
    assert links["email#ada@example.com"].source_connector == "typeform-nps"
    tweet = item("t1", connector="x-brand", provider="x", kind="post", user_id="111", handle="ada_x")
    assert {(l.evidence, l.confidence) for l in author_links(tweet)} == {("provider_verified", 1.0)}


# ---- merges --------------------------------------------------------------------------------------
def test_strong_tie_merges_into_the_older_person_and_unmerge_puts_everything_back(hub, sent_jobs):
    crm_person = deliver(
        hub, item("h1", connector="hubspot", provider="hubspot", kind="crm_update", user_id="42")
    )
    hub.clock = lambda: datetime.now(UTC) + timedelta(seconds=5)  # the survey person is newer
    survey_person = deliver(hub, item("r1", email="maya@example.com", minutes=1))
    assert survey_person != crm_person
    sent_jobs.clear()

    # A survey response with the same email and the HubSpot contact id in a hidden field ties them:
    # min(email 0.95, CRM id 1.0) = 0.95 >= 0.8, so they merge; the older (CRM) person survives.
    survivor = deliver(hub, item("r2", email="maya@example.com", links={"hubspot": "42"}, minutes=2))
    assert survivor == crm_person
    merged = hub.store.get_person(survey_person)
    assert merged.merged_into == crm_person
    [merge_id] = merged.merges
    record = hub.store.get_merge(merge_id)
    assert (record.status, record.survivor_id, record.merged_id, record.confidence) == (
        "done",
        crm_person,
        survey_person,
        0.95,
    )
    assert record.moved_interactions == ["r1"]
    assert "email#maya@example.com" in {l.key for l in record.moved_identities}
    assert owner(hub, "email#maya@example.com") == crm_person
    assert hub.store.person_interactions(survey_person) == []
    assert sorted(i.interaction_id for i in hub.store.person_interactions(crm_person)) == ["h1", "r1", "r2"]
    assert all(i.person_id == crm_person for i in hub.store.person_interactions(crm_person))
    person = hub.store.get_person(crm_person)
    assert person.email == "maya@example.com" and person.stats.interaction_count == 2  # two survey answers
    assert merge_id in person.merges
    assert {j["person_id"] for j in sent_jobs} == {crm_person}
    assert [p.person_id for p in hub.store.advocates(-1000, 50)].count(survey_person) == 0

    sent_jobs.clear()
    undone = unmerge(hub, merge_id)
    assert undone.status == "undone" and undone.undone_at is not None
    assert owner(hub, "email#maya@example.com") == survey_person
    assert owner(hub, "hubspot#42") == crm_person
    # r1 goes back; r2 (which carries identities of both) stays with the survivor
    assert [i.interaction_id for i in hub.store.person_interactions(survey_person)] == ["r1"]
    assert sorted(i.interaction_id for i in hub.store.person_interactions(crm_person)) == ["h1", "r2"]
    restored, kept = hub.store.get_person(survey_person), hub.store.get_person(crm_person)
    assert restored.merged_into is None and restored.email == "maya@example.com"
    assert kept.email is None and "email#maya@example.com" not in {r.key for r in kept.identities}
    assert {j["person_id"] for j in sent_jobs} == {crm_person, survey_person}
    assert unmerge(hub, merge_id).status == "undone"  # idempotent

    # Kept apart from now on: the same evidence again becomes a suggestion, not a merge.
    assert deliver(hub, item("r3", email="maya@example.com", links={"hubspot": "42"}, minutes=3)) in (
        crm_person,
        survey_person,
    )
    assert hub.store.get_person(survey_person).merged_into is None
    [suggestion] = hub.store.get_person(crm_person).suggestions
    assert suggestion.person_id == survey_person and suggestion.reason == "kept apart by an earlier unmerge"


def test_unmerge_errors_are_named(hub):
    with pytest.raises(UnknownMerge):
        unmerge(hub, "no-such-merge")
    a = deliver(hub, item("a1", email="a@example.com"))
    b = deliver(hub, item("b1", email="b@example.com"))
    c = deliver(hub, item("c1", email="c@example.com"))
    first = merge_people(hub, a, b)
    merge_people(hub, c, a)  # the survivor of the first merge is merged away since
    with pytest.raises(CannotUnmerge):
        unmerge(hub, first.merge_id)


def test_admin_merge_moves_sync_state_the_survivor_lacks(hub):
    from chalicelib.store.base import SyncState

    a = deliver(hub, item("a1", email="a@example.com"))
    b = deliver(hub, item("b1", email="b@example.com"))
    hub.store.put_sync_state(SyncState(b, "crm-file", crm_id="crm-b", record_hash="h"))
    record = merge_people(hub, a, b)
    assert record.copied_sync_states == ["crm-file"]
    assert hub.store.get_sync_states([(a, "crm-file")])[(a, "crm-file")].crm_id == "crm-b"
    unmerge(hub, record.merge_id)
    assert hub.store.get_sync_states([(a, "crm-file")]) == {}
    assert hub.store.get_sync_states([(b, "crm-file")])[(b, "crm-file")].crm_id == "crm-b"


def test_tie_below_threshold_is_kept_as_a_suggestion_on_both(hub):
    x_person = deliver(
        hub, item("t1", connector="x-brand", provider="x", kind="post", user_id="111", handle="maya_x")
    )
    survey_person = deliver(hub, item("r1", email="maya@example.com"))
    # email (0.95) points at the survey person; the hidden-field handle (0.7) at the X person
    assert deliver(hub, item("r2", email="maya@example.com", links={"x_handle": "maya_x"})) == survey_person
    assert hub.store.get_person(x_person).merged_into is None
    [on_survey] = hub.store.get_person(survey_person).suggestions
    [on_x] = hub.store.get_person(x_person).suggestions
    assert (on_survey.person_id, on_survey.confidence) == (x_person, 0.7)
    assert on_x.person_id == survey_person and "below the merge threshold" in on_x.reason
    assert [link.key for link in on_x.evidence] == ["x_handle#maya_x"]
    assert owner(hub, "x_handle#maya_x") == x_person

    # A lower threshold in settings.yaml makes the same evidence a merge.
    hub.settings.identity.merge_threshold = 0.6
    assert deliver(hub, item("r3", email="maya@example.com", links={"x_handle": "maya_x"})) == x_person
    assert hub.store.get_person(survey_person).merged_into == x_person


def test_different_verified_user_ids_are_never_merged(hub):
    one = deliver(
        hub, item("t1", connector="x-brand", provider="x", kind="post", user_id="111", handle="old")
    )
    two = deliver(
        hub, item("t2", connector="x-brand", provider="x", kind="post", user_id="222", handle="new")
    )
    # a delivery claiming @old is user 222 (a handle passed on after a rename)
    deliver(hub, item("t3", connector="x-brand", provider="x", kind="post", user_id="222", handle="old"))
    assert hub.store.get_person(one).merged_into is None and hub.store.get_person(two).merged_into is None
    assert "different verified x user ids" in hub.store.get_person(two).suggestions[0].reason


# ---- concurrent first contact --------------------------------------------------------------------
def _typeform_envelope(n: int, email: str) -> dict:
    body = fixture_json("typeform/form_response.json")
    body["event_id"] = f"evt-{n}"
    body["form_response"]["token"] = f"token-{n}"
    for answer in body["form_response"]["answers"]:
        if answer.get("type") == "email":
            answer["email"] = email
    return {
        "envelope_id": f"env-{n}",
        "connector_id": "typeform-nps",
        "provider": "typeform",
        "received_at": T0.isoformat(),
        "method": "POST",
        "url": "https://hub.example/webhooks/typeform-nps",
        "content_type": "application/json",
        "headers": {},
        "body_b64": base64.b64encode(json.dumps(body).encode()).decode(),
    }


def test_concurrent_deliveries_for_one_new_person_create_one_person(hub):
    envelopes = [_typeform_envelope(n, "New.Person@Example.com") for n in range(8)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(envelopes))

    def run(envelope: dict) -> None:
        start.wait()
        for _ in range(10):  # a VersionConflict is retried by SQS redelivery in production
            try:
                process_message(hub, envelope)
                return
            except VersionConflict:
                continue
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=run, args=(e,)) for e in envelopes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    [person_id] = person_ids(hub)  # one profile, none merged away
    assert len(hub.store.person_interactions(person_id)) == 8
    assert owner(hub, "email#new.person@example.com") == person_id
    assert hub.store.get_person(person_id).stats.interaction_count == 8


def test_a_survey_and_a_tweet_of_one_new_person_at_once_end_on_one_person(hub, monkeypatch):
    # Both deliveries look their identities up before either claims one (what two workers do
    # when they meet): the survey names an email and a hidden x_handle, the tweet the x id and
    # that handle. Taken one after the other they end on one person, so at once they must too.
    survey = item("r1", email="maya@example.com", links={"x_handle": "@Maya_X"})
    tweet = item("t1", connector="x-brand", provider="x", kind="post", user_id="111", handle="maya_x")
    find, met = hub.store.find_identity_links, threading.Barrier(2, timeout=10)
    first_look: set[int] = set()

    def find_together(links):
        found = find(links)
        if (
            threading.current_thread() is not threading.main_thread()
            and threading.get_ident() not in first_look
        ):
            first_look.add(threading.get_ident())
            met.wait()
        return found

    monkeypatch.setattr(hub.store, "find_identity_links", find_together)
    errors: list[BaseException] = []

    def run(interaction: Interaction) -> None:
        try:
            deliver(hub, interaction)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in (survey, tweet)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    owners = {key: owner(hub, key) for key in ("email#maya@example.com", "x_handle#maya_x", "x#111")}
    assert len(set(owners.values())) == 1, owners
    person = hub.store.get_person(owners["x#111"])
    assert person.suggestions == []
    assert {i.interaction_id for i in hub.store.person_interactions(person.person_id)} == {"r1", "t1"}


def test_a_delivery_claims_at_most_what_one_transaction_holds(hub):
    # 64 links + the author's email: 65 identities claimed in one TransactWriteItems (limit 100)
    many = {f"ref{n}": f"v{n}" for n in range(64)}
    person_id = deliver(hub, item("r1", email="many@example.com", links=many))
    assert len(hub.store.get_person(person_id).identities) == 65
    assert owner(hub, "ref63#v63") == person_id
    from pydantic import ValidationError

    with pytest.raises(ValidationError):  # a parser skips such an entry as malformed, counted
        item("r2", links={**many, "ref64": "v64"})


# ---- normalisation -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Maya.Chen+nps@gmail.com", "mayachen@gmail.com"),  # Gmail ignores dots and +tags
        (" m.a.y.a.chen@GoogleMail.com ", "mayachen@gmail.com"),  # googlemail.com is Gmail
        ("Maya.Chen+nps@example.com", "maya.chen+nps@example.com"),  # elsewhere dots and tags matter
        ("ADA@EXAMPLE.COM", "ada@example.com"),
        ("jörg@Bücher.example", "jörg@bücher.example"),  # IDNA: Unicode domain, lower-cased
        ("not-an-email", None),
        ("two..dots@example.com", None),
        ("a@b", None),
    ],
)
def test_email_normalisation(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw, region, expected",
    [
        ("+1 (415) 555-2671", None, "+14155552671"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("(415) 555-2671", None, None),  # no country code and no default region: not matched on
        ("12", "US", None),
    ],
)
def test_phone_normalisation_to_e164(raw, region, expected):
    assert normalise_phone(raw, region) == expected


def test_gmail_variants_and_phone_formats_resolve_to_one_person(hub):
    hub.settings.identity.default_phone_region = "US"
    first = deliver(hub, item("r1", email="Maya.Chen+nps@gmail.com"))
    assert deliver(hub, item("r2", email="mayachen@googlemail.com")) == first
    by_phone = deliver(hub, item("r3", phone="(415) 555-2671"))
    assert deliver(hub, item("r4", phone="+1 415-555-2671")) == by_phone
    assert {l.key: l.evidence for l in hub.store.get_person(by_phone).links} == {
        "phone#+14155552671": "same_phone"
    }


def test_an_erased_person_known_by_a_local_phone_stays_erased(hub):
    """The erasure check reads the author's identities with the hub's identity settings, so a
    phone written without +country code (resolved through default_phone_region) is matched."""
    from chalicelib.privacy import erase_person

    hub.settings.identity.default_phone_region = "US"
    person = deliver(hub, item("p1", phone="(415) 555-2671"))
    assert erase_person(hub, person) is not None
    late = item("p2", phone="415-555-2671", minutes=5)
    assert not apply_interaction(hub, hub.connectors.get(late.connector_id), late, ProcessOutcome())
    assert owner(hub, "phone#+14155552671") is None
