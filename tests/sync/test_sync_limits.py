"""Every sink call is counted and every throttle parks the account: the sync engine against CRMs
that behave as their docs say under load (a fake that answers 429 with Retry-After while it
is throttled, applies the writes it accepts, and records every request it received and when)."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import unquote

import pytest
import responses

from chalicelib.schema import Person
from chalicelib.sync.budget import budget_key
from chalicelib.sync.engine import run_sync
from tests.support.crm import fresh_tokens, sleeps  # noqa: F401
from tests.support.paths import CRM_CONNECTORS
from tests.support.senders import fixture_json

DATAVERSE = "https://acme.crm.dynamics.com/api/data/v9.2/contacts"
DATAVERSE_TOKEN = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token"
# Dataverse's service-protection answer (learn.microsoft.com .../data-platform/api-limits)
DATAVERSE_429 = {
    "error": {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    }
}


class FakeDataverse:
    """Alternate-key upsert `PATCH contacts(emailaddress1='...')` with service protection: while
    throttled, every request is refused 429 with the seconds left in Retry-After."""

    def __init__(self, throttled_for: float = 0.0):
        self.calls: list[tuple[float, str]] = []
        self.contacts: dict[str, dict] = {}
        self.throttled_until = time.time() + throttled_for

    def __call__(self, request):
        now = time.time()
        self.calls.append((now, request.url))
        if now < self.throttled_until:
            return (
                429,
                {"Retry-After": str(int(self.throttled_until - now + 0.999))},
                json.dumps(DATAVERSE_429),
            )
        key = unquote(re.search(r"emailaddress1='(.*)'\)", request.url).group(1)).replace("''", "'")
        created = key not in self.contacts
        contact = self.contacts.setdefault(key, {"contactid": str(uuid.uuid4()), "emailaddress1": key})
        contact.update(json.loads(request.body))
        return (201 if created else 200), {"OData-Version": "4.0"}, json.dumps(contact)


@pytest.fixture
def frozen_budget(monkeypatch):
    """Budget windows that do not turn over while a test runs (a fixed clock for the budget)."""
    from chalicelib.sync import budget

    now = time.time()

    class Frozen(budget.ApiBudget):
        def __init__(self, store, clock=None):
            super().__init__(store, lambda: now)

    monkeypatch.setattr(budget, "ApiBudget", Frozen)


def people(hub, count: int, connector_id: str) -> dict[str, dict]:
    """`count` people with an email, and one sync-queue message per person."""
    now = datetime.now(UTC)
    messages = {}
    for n in range(count):
        hub.store.put_person(
            Person(person_id=f"p{n}", created_at=now, updated_at=now, email=f"fan{n}@example.com"), None
        )
        messages[f"m{n}"] = {
            "person_id": f"p{n}",
            "connector_id": connector_id,
            "requested_at": now.isoformat(),
        }
    return messages


def crm_hub(use_connectors, tmp_path, rate_limit: str | None = None):
    """The hub with the CRM connectors; `rate_limit` ("N/S") is set on every one of them."""
    folder = tmp_path / "crm"
    folder.mkdir()
    for source in CRM_CONNECTORS.glob("*.yaml"):
        text = source.read_text()
        if rate_limit:
            requests_, per = rate_limit.split("/")
            text += f"rate_limit:\n  requests: {requests_}\n  per_seconds: {per}\n"
        (folder / source.name).write_text(text)
    use_connectors(folder)
    from chalicelib.runtime.aws import get_hub

    return get_hub()


def dataverse(rsps, fake: FakeDataverse) -> None:
    rsps.post(DATAVERSE_TOKEN, json=fixture_json("dynamics/token_response.json"))
    rsps.add_callback(responses.PATCH, re.compile(re.escape(DATAVERSE) + r"\(.*"), callback=fake)


def blocked_for(hub, connector_id: str) -> float:
    return hub.store.budget_blocked_until(budget_key(hub.connectors.get(connector_id))) - time.time()


def test_dataverse_429_parks_the_account_after_one_request_not_fifty(aws, use_connectors, tmp_path, sleeps):
    # Before: 50 PATCHes were sent into a 429 Retry-After: 240, and the account was never blocked.
    hub = crm_hub(use_connectors, tmp_path)
    fake = FakeDataverse(throttled_for=240)
    messages = people(hub, 50, "dynamics")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        dataverse(rsps, fake)
        outcome = run_sync(hub, messages)
        assert len(fake.calls) == 1 and outcome.calls == 1 and sleeps == []
        assert outcome.failed_messages == set(messages)
        assert all(238 <= wait <= 241 for wait in outcome.retry_after.values())
        assert 238 <= blocked_for(hub, "dynamics") <= 241  # every worker sees the block
        again = run_sync(hub, messages)  # another worker, meanwhile: not one request
    assert len(fake.calls) == 1 and again.calls == 0 and again.failed_messages == set(messages)
    assert fake.contacts == {} and hub.store.dead_letters("dynamics", 10) == []


def test_the_budget_counts_each_http_call_of_a_chunk(aws, use_connectors, tmp_path, sleeps, frozen_budget):
    # A Dataverse chunk is 25 PATCHes; the budget used to be charged once for all of them.
    hub = crm_hub(use_connectors, tmp_path, rate_limit="10/60")
    fake = FakeDataverse()
    messages = people(hub, 25, "dynamics")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        dataverse(rsps, fake)
        outcome = run_sync(hub, messages)
    assert len(fake.calls) == 10 and len(fake.contacts) == 10 and outcome.written == 10
    assert len(outcome.failed_messages) == 15
    assert all(0 < wait <= 60 for wait in outcome.retry_after.values())  # until the next window
    assert len(outcome.retry_after) == 15


def test_pipedrive_retry_after_as_an_http_date_parks_the_account(aws, use_connectors, tmp_path, sleeps):
    hub = crm_hub(use_connectors, tmp_path)
    calls = []
    until = datetime.now(UTC) + timedelta(seconds=120)

    def throttled(request):
        calls.append(request.url)
        headers = {"Retry-After": format_datetime(until, usegmt=True)}
        return 429, headers, json.dumps({"success": False, "error": "Rate limit exceeded", "errorCode": 429})

    messages = people(hub, 20, "pipedrive")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.GET, re.compile(r"https://acme\.pipedrive\.com/.*"), callback=throttled)
        outcome = run_sync(hub, messages)
    assert len(calls) == 1 and outcome.failed_messages == set(messages) and sleeps == []
    assert all(110 <= wait <= 121 for wait in outcome.retry_after.values())
    assert 110 <= blocked_for(hub, "pipedrive") <= 121


def test_salesforce_usage_near_the_allocation_rests_the_account(aws, use_connectors, tmp_path):
    hub = crm_hub(use_connectors, tmp_path)
    token = fixture_json("salesforce/token_response.json")
    upserts = []

    def upsert(request):
        records = json.loads(request.body)["records"]
        upserts.append(len(records))
        results = [
            {"id": f"003{n:015d}", "success": True, "errors": [], "created": True}
            for n in range(len(records))
        ]
        return 200, {"Sforce-Limit-Info": "api-usage=91000/100000"}, json.dumps(results)

    first = people(hub, 3, "salesforce")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(re.compile(r".*/services/oauth2/token"), json=token)
        # the lookup by Email that precedes any create finds no existing Contact
        rsps.get(
            re.compile(r".*/services/data/v[\d.]+/query"), json={"totalSize": 0, "done": True, "records": []}
        )
        rsps.add_callback(responses.PATCH, re.compile(r".*/composite/sobjects/Contact/.*"), callback=upsert)
        outcome = run_sync(hub, first)
        assert outcome.written == 3 and upserts == [3]  # the answer itself is kept
        # 91% used and 10% reserved for the org's other integrations: the account rests an hour
        assert 3590 <= blocked_for(hub, "salesforce") <= 3600
        hub.store.put_person(
            Person(
                person_id="late",
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
                email="late@example.com",
            ),
            None,
        )
        later = run_sync(
            hub,
            {
                "m-late": {
                    "person_id": "late",
                    "connector_id": "salesforce",
                    "requested_at": datetime.now(UTC).isoformat(),
                }
            },
        )
    assert upserts == [3] and later.failed_messages == {"m-late"}


@pytest.fixture
def hubspot_daily(sink_hub):
    from tests.sync.test_sync_hubspot import UPSERT

    calls = []

    def daily_limit(request):
        calls.append(time.time())
        body = {  # HubSpot's documented 429 for the daily limit (usage guidelines)
            "status": "error",
            "message": "You have reached your daily limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
            "policyName": "DAILY",
            "requestId": "3d3e35b7-0dae-4b9f-a6e3-9c230cbcf8dd",
        }
        return 429, {}, json.dumps(body)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.POST, UPSERT, callback=daily_limit)
        yield sink_hub, calls


def test_hubspot_daily_limit_parks_until_midnight_without_retries(hubspot_daily):
    from chalicelib.providers.hubspot import seconds_to_midnight

    hub, calls = hubspot_daily
    outcome = run_sync(hub, people(hub, 3, "hubspot"))
    # Before: 4 quick retries (0.1-0.6 s apart), then retry_after=None and no block.
    assert len(calls) == 1 and hub.waits == []
    midnight = seconds_to_midnight("UTC")
    assert all(abs(wait - midnight) < 5 for wait in outcome.retry_after.values())
    assert abs(blocked_for(hub, "hubspot") - midnight) < 5


def test_hubspot_midnight_is_the_accounts_own():
    from chalicelib.providers.hubspot import seconds_to_midnight

    three_pm_in_la = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    assert seconds_to_midnight("America/Los_Angeles", three_pm_in_la) == 9 * 3600
    assert seconds_to_midnight("UTC", three_pm_in_la) == 3600


def test_hubspot_split_after_a_400_spends_one_budget_call_per_request(sink_hub, frozen_budget):
    # A 400 for a batch is split into one call per record: 100 records are 101 calls, and the
    # budget (100 a 10 s window) stops the 101st instead of counting the whole batch as one.
    from tests.sync.test_sync_hubspot import UPSERT

    calls = []

    def reject_batches(request):
        inputs = json.loads(request.body)["inputs"]
        calls.append(len(inputs))
        if len(inputs) > 1:
            return (
                400,
                {},
                json.dumps(
                    {
                        "status": "error",
                        "message": "Property values were not valid",
                        "category": "VALIDATION_ERROR",
                    }
                ),
            )
        [entry] = inputs
        result = {
            "id": "1",
            "properties": {"email": entry["id"]},
            "new": True,
            "createdAt": "2026-11-24T15:20:05Z",
            "updatedAt": "2026-11-24T15:20:05Z",
            "archived": False,
        }
        return (
            200,
            {},
            json.dumps(
                {
                    "status": "COMPLETE",
                    "results": [result],
                    "startedAt": "2026-11-24T15:20:05Z",
                    "completedAt": "2026-11-24T15:20:05Z",
                }
            ),
        )

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.POST, UPSERT, callback=reject_batches)
        outcome = run_sync(sink_hub, people(sink_hub, 100, "hubspot"))
    assert len(calls) == 100 and calls[0] == 100 and outcome.calls == 100
    assert outcome.written == 99 and len(outcome.failed_messages) == 1  # the rest waits for the window
