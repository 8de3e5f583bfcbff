"""Brand pulse: counters kept as interactions are stored, read by range (GET /admin/pulse)."""

from __future__ import annotations

import json

from tests.support.admin import send_survey, send_tweet, survey, tweet

DAY = "2026-11-24"  # the fixtures' survey and tweets were all said that day (a Tuesday)
WEEK = "2026-11-23"


def pulse(client, headers, query="from=2026-11-20&to=2026-11-30&interval=day", status=200):
    response = client.http.get(f"/admin/pulse?{query}", headers=headers)
    assert response.status_code == status, response.body
    return json.loads(response.body)


def test_counts_by_channel_day_and_week(client, hub, workers, admin_headers):
    send_survey(client, survey())  # Maya, NPS promoter
    send_tweet(client, tweet())  # the fixture's two tweets
    workers.drain()
    stored = hub.store.connector_interactions("x-brand", 10)
    labels = sorted(i.sentiment.label for i in stored)
    doc = pulse(client, admin_headers)
    x = doc["channels"]["x"]
    [that_day] = [b for b in x["series"] if b["bucket"] == DAY]
    assert that_day["mentions"] == 2 and x["totals"]["mentions"] == 2
    assert sorted(k for k in ("positive", "neutral", "negative") for _ in range(that_day.get(k, 0))) == labels
    assert len(x["series"]) == 11 and doc["buckets"][0] == "2026-11-20"
    typeform = doc["channels"]["typeform"]["totals"]
    assert typeform["nps"]["promoters"] == 1 and typeform["nps"]["score"] == 100.0
    assert typeform["mentions"] == 0 and typeform["interactions"] == 1
    [answer] = hub.store.connector_interactions("typeform-nps", 10)
    people = {i.person_id for i in stored} | {answer.person_id}
    assert doc["totals"]["voices"] == {"new": len(people), "returning": 0}  # all on their first day
    weekly = pulse(client, admin_headers, "from=2026-11-24&to=2026-11-24&interval=week")
    assert weekly["buckets"] == [WEEK] and weekly["channels"]["x"]["totals"]["mentions"] == 2
    by_reach = doc["top_voices"]["by_reach"]
    assert by_reach[0]["reach"] == 4821 and "x" in by_reach[0]["channels"]
    assert doc["top_voices"]["by_advocacy"][0]["score"] >= doc["top_voices"]["by_advocacy"][-1]["score"]


def test_redeliveries_and_edits_count_nothing_again(client, hub, workers, admin_headers):
    send_tweet(client, tweet())
    workers.drain()
    before = pulse(client, admin_headers)["totals"]
    send_tweet(client, tweet())  # the same events again: de-duplicated
    workers.drain()
    assert pulse(client, admin_headers)["totals"] == before


def test_a_returning_voice_counts_once_per_bucket(client, hub, workers, admin_headers):
    send_survey(client, survey(token="a1", email="ana@example.com"))
    workers.drain()
    send_survey(client, survey(token="a2", email="ana@example.com"))
    send_survey(client, survey(token="a3", email="ana@example.com"))
    workers.drain()
    totals = pulse(client, admin_headers)["channels"]["typeform"]["totals"]
    # the same day: new once, and not returning within the bucket they were new in
    assert totals["voices"] == {"new": 1, "returning": 0} and totals["interactions"] == 3


def test_counters_are_written_once_per_batch_not_per_interaction(client, hub, workers, monkeypatch):
    calls = []
    real = hub.store.add_counts
    monkeypatch.setattr(hub.store, "add_counts", lambda *a, **k: (calls.append(a[0]), real(*a, **k))[1])
    for n in range(5):
        send_survey(client, survey(token=f"b{n}", email=f"b{n}@example.com"))
    workers.drain()
    assert (
        calls.count("pulse:day") <= 2 and calls.count("pulse:week") <= 2
    )  # five surveys, one or two batches


def test_an_erased_person_leaves_the_top_voices(client, hub, workers, admin_headers):
    send_tweet(client, tweet())
    workers.drain()
    [top, *_] = pulse(client, admin_headers)["top_voices"]["by_reach"]
    assert client.http.delete(f"/admin/people/{top['person_id']}", headers=admin_headers).status_code == 200
    after = pulse(client, admin_headers)
    assert top["person_id"] not in {v["person_id"] for v in after["top_voices"]["by_reach"]}
    assert after["totals"]["mentions"] == 2  # the counts are anonymous and stay


def test_bad_ranges_are_400(client, admin_headers):
    pulse(client, admin_headers, "interval=month", 400)
    pulse(client, admin_headers, "from=2026-12-10&to=2026-12-01", 400)
    pulse(client, admin_headers, "from=yesterday", 400)
    pulse(client, admin_headers, "from=2020-01-01&to=2026-01-01", 400)
    assert client.http.get("/admin/pulse").status_code == 401


def test_the_cli_view_renders_the_same_figures(client, hub, workers, admin_headers):
    from chalicelib.cli_pulse import render

    send_tweet(client, tweet())
    workers.drain()
    text = render(pulse(client, admin_headers))
    [x_row] = [line for line in text.splitlines() if line.startswith("x ")]
    assert x_row.split()[1:3] == ["2", "2"]  # interactions, mentions
    assert f"  {DAY}  {'#' * 40}  2" in text and "top voices by reach:" in text
