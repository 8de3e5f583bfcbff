"""The console in a real browser: Playwright driving Debian's Chromium against a real
`chorus serve` on loopback. No Chromium is a failure, not a skip (.ci/run installs it).
CHORUS_SCREENSHOTS=docs/img also writes screenshots of the main pages there."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import requests

from tests.support.admin import survey, tweet
from tests.support.local_hub import ServedHub, hub_env
from tests.support.paths import CONNECTORS
from tests.support.senders import SECRETS, typeform_headers, x_headers

pytestmark = pytest.mark.slow
CHROMIUM = os.environ.get("CHORUS_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = SECRETS["CHORUS_ADMIN_TOKEN"]
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SHOTS = os.environ.get("CHORUS_SCREENSHOTS")
WAIT = 30_000  # ms: the machine may be busy


def api(hub: ServedHub, path: str, method: str = "GET", **kwargs) -> dict:
    answer = requests.request(method, hub.base + path, headers=ADMIN, timeout=15, **kwargs)
    assert answer.ok, (path, answer.status_code, answer.text)
    return answer.json()


def settle(hub: ServedHub, check, timeout: float = 60) -> None:
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError("the hub did not get there in time:\n" + hub.log_path.read_text()[-2000:])


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    served = ServedHub(tmp_path_factory.mktemp("console-hub")).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def seeded(hub):
    """A refused delivery, accepted ones (a survey, two tweets), and a delivery dead-lettered."""
    url = hub.base + "/webhooks/"
    body = survey(email="maya.chen@example.com")
    refused = requests.post(url + "typeform-nps", data=body, headers=typeform_headers(b"forged"), timeout=10)
    accepted = requests.post(url + "typeform-nps", data=body, headers=typeform_headers(body), timeout=10)
    tweets = tweet()
    requests.post(url + "x-brand", data=tweets, headers=x_headers(tweets), timeout=10)
    broken = json.dumps(
        {"event_id": "broken-1", "event_type": "form_response", "form_response": {"token": 7}}
    ).encode()
    dead = requests.post(url + "typeform-nps", data=broken, headers=typeform_headers(broken), timeout=10)
    assert (refused.status_code, accepted.status_code, dead.status_code) == (401, 200, 200)
    ids = {
        k: r.headers["X-Chorus-Delivery-Id"]
        for k, r in (("refused", refused), ("accepted", accepted), ("dead", dead))
    }

    def done() -> bool:
        statuses = {
            k: requests.get(f"{hub.base}/admin/deliveries/{v}", headers=ADMIN, timeout=5)
            for k, v in ids.items()
        }
        return all(r.status_code == 200 for r in statuses.values()) and (
            statuses["accepted"].json()["status"] == "processed"
            and statuses["dead"].json()["status"] == "dead_letter"
        )

    settle(hub, done)
    [maya] = api(hub, "/admin/people?email=maya.chen@example.com")["items"]
    return {**ids, "maya": maya["person_id"]}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, hub, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(WAIT)
    tab.on("dialog", lambda dialog: dialog.accept())  # the confirmations of erase, undo, discard
    yield tab
    context.close()


def until(page, expression: str, timeout: float = WAIT / 1000) -> None:
    """Poll a page expression (wait_for_function evaluates strings, which the console's CSP forbids)."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        if page.evaluate(expression):
            return
        time.sleep(0.2)
    raise AssertionError(f"never true: {expression}")


def sign_in(page, hub: ServedHub, token: str = TOKEN) -> None:
    page.goto(hub.base + "/console")
    page.fill("#token", token)
    page.click("#sign-in-form button[type=submit]")


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"console-{name}.png"), full_page=True)


def test_sign_in_keeps_the_token_out_of_cookies_and_storage(page, hub, seeded):
    sign_in(page, hub, "wrong-token")
    page.wait_for_selector("#sign-in-error:has-text('refused')")
    assert page.is_hidden("#nav")
    sign_in(page, hub)
    page.wait_for_selector("#nav a[href='#/deliveries']")
    page.wait_for_selector("img.chart[data-chart='deliveries.svg']")
    page.wait_for_selector("text=typeform-nps")
    assert page.context.cookies() == []
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert TOKEN not in page.content()
    shot(page, "overview")


def test_refused_and_accepted_deliveries_with_their_reasons(page, hub, seeded):
    sign_in(page, hub)
    page.wait_for_selector("#nav")
    page.goto(hub.base + "/console#/deliveries")
    page.wait_for_selector("#filter-connector")
    page.wait_for_selector("td:has-text('bad_signature')")
    rows = page.locator("tbody tr").all_inner_texts()
    assert any("refused" in r and "401" in r and "bad_signature" in r for r in rows)
    assert any("processed" in r and "typeform-nps" in r for r in rows)
    shot(page, "deliveries")
    page.select_option("#filter-status", "refused")
    until(
        page,
        "(() => { const b = document.querySelector('#view tbody'); return !!b && b.innerText.includes('bad_signature')"
        " && !b.innerText.includes('processed'); })()",
    )
    page.goto(f"{hub.base}/console#/deliveries/{seeded['refused']}")
    page.wait_for_selector("#delivery-reason:has-text('bad_signature')")
    assert "[redacted]" in page.inner_text("table")  # the signature header
    page.goto(f"{hub.base}/console#/deliveries/{seeded['accepted']}")
    page.wait_for_selector("#chain li:has-text('processed')")
    assert "interaction(s)" in page.inner_text("#chain")
    shot(page, "delivery")


def test_a_dead_letter_replayed_from_the_page(page, hub, seeded):
    sign_in(page, hub)
    page.wait_for_selector("#nav")
    page.goto(hub.base + "/console#/dead-letters")
    page.wait_for_selector("td:has-text('cannot parse')")
    shot(page, "dead-letters")
    page.click("button.replay")
    page.wait_for_selector("#dlq-status:has-text('Replayed')")
    chain = api(hub, f"/admin/deliveries/{seeded['dead']}")["chain"]
    assert "replayed" in [s["status"] for s in chain]


def test_a_persons_score_explanation(page, hub, seeded):
    sign_in(page, hub)
    page.wait_for_selector("#nav")
    page.goto(hub.base + "/console#/people")
    page.fill("#person-search", "maya.chen@example.com")
    page.click("form.filters button[type=submit]")
    page.click("#search-results a")
    page.wait_for_selector("#score")
    person = api(hub, f"/admin/people/{seeded['maya']}")
    shown = re.search(r"Score (\d+\.\d)", page.inner_text("#score"))
    assert shown, page.inner_text("#score")
    # recency decays the score between the page's read and this one: equal to a rounding step
    assert abs(float(shown.group(1)) - person["advocate"]["score"]) <= 0.15
    components = page.locator("table:has(caption:has-text('Score components')) tbody tr").all_inner_texts()
    assert {c["name"] for c in person["explanation"]["components"]} <= {r.split("\t")[0] for r in components}
    assert any("survey_response on typeform" in r for r in components)  # the interaction behind the NPS
    shot(page, "person")


def test_a_merge_undone_from_the_page(page, hub, seeded):
    others = [
        p for p in api(hub, "/admin/advocates?min_score=-100")["items"] if p["person_id"] != seeded["maya"]
    ]
    merged = api(
        hub,
        "/admin/merges",
        "POST",
        json={"survivor_id": seeded["maya"], "merged_id": others[0]["person_id"]},
    )
    sign_in(page, hub)
    page.wait_for_selector("#nav")
    page.goto(f"{hub.base}/console#/people/{seeded['maya']}")
    page.click("button.undo")
    page.wait_for_selector(f"#flash:has-text('{merged['merge_id']} undone')")
    records = api(hub, f"/admin/people/{seeded['maya']}")["merge_records"]
    assert [r["status"] for r in records if r["merge_id"] == merged["merge_id"]] == ["undone"]


def test_the_pulse_chart_is_drawn_with_data(page, hub, seeded):
    sign_in(page, hub)
    page.wait_for_selector("#nav")
    page.goto(hub.base + "/console#/pulse")
    page.fill("#pulse-from", "2026-11-20")
    page.fill("#pulse-to", "2026-11-30")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("img.chart[data-chart='pulse-talk.svg']")
    until(page, "[...document.querySelectorAll('img.chart')].every(i => i.complete && i.naturalWidth > 0)")
    assert (
        page.evaluate(
            "document.querySelector(\"img[data-chart='pulse-talk.svg']\").getBoundingClientRect().width"
        )
        > 300
    )
    svg = requests.get(
        hub.base + "/admin/charts/pulse-talk.svg?from=2026-11-20&to=2026-11-30&interval=day",
        headers=ADMIN,
        timeout=10,
    ).text  # what the page drew (its blob: URL is not readable under the console's CSP)
    assert 'class="s0"' in svg and "<rect" in svg and ">x</text>" in svg  # a bar and the x legend
    assert "x" in page.inner_text("table:has(caption:has-text('By channel'))")
    shot(page, "pulse")
    page.emulate_media(color_scheme="dark")
    shot(page, "pulse-dark")


def test_phone_width_and_keyboard(browser, hub, seeded):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    tab = context.new_page()
    tab.set_default_timeout(WAIT)
    tab.goto(hub.base + "/console")
    tab.keyboard.press("Tab")  # the skip link, then the token field
    tab.keyboard.press("Tab")
    tab.keyboard.type(TOKEN)
    tab.keyboard.press("Enter")
    tab.wait_for_selector("#nav a[href='#/overview']")
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    tab.wait_for_selector("text=typeform-nps")
    shot(tab, "overview-phone")
    context.close()


# what a remote server may put in an error the hub records: it must read as text, never run
HOSTILE_ERROR = 'HTTP 503 from hn.test: <img src=x onerror="document.body.dataset.pwned=1"><b>down</b>'


@pytest.fixture(scope="module")
def listening_hub(tmp_path_factory):
    """A hub with a Hacker News listener whose one feed failed three runs in a row, recorded in
    its store before it starts (listening off, so the record stays as seeded)."""
    from datetime import UTC, datetime

    from chalicelib.store.listener_cursors import ListenerCursor
    from chalicelib.store.local import open_local_storage

    workdir = tmp_path_factory.mktemp("console-listening")
    config = workdir / "connectors"
    shutil.copytree(CONNECTORS, config)
    (config / "hn-console.yaml").write_text(
        "id: hn-console\nprovider: hackernews\nbrand_terms: [Chorus]\n"
        "options:\n  base_url: https://hn.invalid/api/v1\n"
    )
    (workdir / ".chorus").mkdir()
    store = open_local_storage(workdir / ".chorus").store
    ran = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    store.put_cursor(
        ListenerCursor("hn-console", "Chorus", last_run_at=ran, failures=3, last_error=HOSTILE_ERROR)
    )
    store.close()
    served = ServedHub(workdir, config_dir=config, env=hub_env(CHORUS_POLL_INTERVAL_SECONDS="0")).start()
    yield served
    served.stop()


def test_listener_health_in_the_connectors_view_is_text(page, listening_hub):
    listed = {c["id"]: c for c in api(listening_hub, "/admin/connectors?limit=500")["items"]}
    assert listed["hn-console"]["listener"]["last_error"] == HOSTILE_ERROR
    sign_in(page, listening_hub)
    page.wait_for_selector("#nav")
    page.goto(listening_hub.base + "/console#/connectors")
    row = page.locator("#view .paged tbody tr:has(a[href='#/connectors/hn-console'])")
    row.locator(".listener-health").wait_for()
    health = row.locator(".listener-health").inner_text()
    assert "3 failures in a row" in health and "last ok —" in health
    assert HOSTILE_ERROR in health  # the markup shown as the characters it is
    assert page.locator("#view img:not(.chart), #view b").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None
    typeform = page.locator("#view .paged tbody tr:has(a[href='#/connectors/typeform-nps'])").inner_text()
    assert typeform.rstrip().endswith("—")  # a webhook source has no listener health
    shot(page, "connectors-listener")

    row.locator("a[href='#/connectors/hn-console']").click()
    feeds = page.locator("table:has(caption:has-text('Listener feeds')) tbody tr")
    feeds.first.wait_for()
    assert feeds.count() == 1
    [cells] = [feeds.first.locator("td").all_inner_texts()]
    assert cells[0] == "Chorus" and cells[3] == "3" and cells[4] == HOSTILE_ERROR
    assert page.locator("#webhook-url").count() == 0  # a listener takes no webhooks
    assert page.locator("#view img, #view b").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None
