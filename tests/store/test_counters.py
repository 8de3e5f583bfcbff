"""Counters contract: atomic adds by bucket, range reads, connector counts, top voices."""

from __future__ import annotations

from chalicelib.store.counters import Voice


def test_adds_accumulate_and_ranges_read_in_bucket_order(store):
    store.add_counts("pulse:day", {("2026-12-01", "x"): {"mentions": 2, "positive": 1}}, 30)
    store.add_counts(
        "pulse:day",
        {
            ("2026-12-01", "x"): {"mentions": 3},
            ("2026-12-03", "slack"): {"mentions": 1},
            ("2026-12-09", "x"): {"mentions": 9},
        },
        30,
    )
    store.add_counts("pulse:week", {("2026-12-01", "x"): {"mentions": 100}}, 30)
    assert store.read_counts("pulse:day", "2026-12-01", "2026-12-03") == [
        ("2026-12-01", "x", {"mentions": 5, "positive": 1}),
        ("2026-12-03", "slack", {"mentions": 1}),
    ]
    assert store.read_counts("pulse:day", "2026-12-02", "2026-12-02") == []


def test_count_events_adds_to_the_per_reason_counters(store):
    store.count_event("typeform-nps", "bad_signature")
    store.count_events("typeform-nps", {"bad_signature": 4, "missing_signature": 2})
    assert store.event_counts("typeform-nps") == {"bad_signature": 5, "missing_signature": 2}
    assert store.connector_stats(["typeform-nps"])["typeform-nps"]["counts"] == {
        "bad_signature": 5,
        "missing_signature": 2,
    }


def test_top_voices_by_reach_and_by_score(store):
    store.note_voices(
        "pulse:day",
        "2026-12-01",
        [
            Voice("maya", 1, 5000, 62.5, ("x",)),
            Voice("devon", 2, 90, 80.0, ("slack",)),
            Voice("ana", 1, 700, -10.0),
        ],
        30,
    )
    store.note_voices("pulse:day", "2026-12-01", [Voice("maya", 2, 6000, 63.0, ("typeform",))], 30)
    store.note_voices("pulse:day", "2026-12-02", [Voice("zed", 1, 10**9, 1.0)], 30)
    by_reach = store.top_voices("pulse:day", "2026-12-01", "reach", 2)
    assert [(v.person_id, v.mentions, v.reach) for v in by_reach] == [("maya", 3, 6000), ("ana", 1, 700)]
    assert by_reach[0].channels == ("typeform", "x")
    assert [v.person_id for v in store.top_voices("pulse:day", "2026-12-01", "score", 3)] == [
        "devon",
        "maya",
        "ana",
    ]
    store.delete_voices("maya", "pulse:day", ["2026-12-01", "2026-12-01"])
    assert [v.person_id for v in store.top_voices("pulse:day", "2026-12-01", "reach", 5)] == ["ana", "devon"]
