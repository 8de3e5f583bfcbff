"""2. Processing path: process_message (parse, validate, de-dup, identity, enrich, store, score,
enqueue sync) on an in-memory store, per sample, with the cost of each stage on its own.

Providers whose parse fetches the object from their API get canned fixture answers
(tests/samples.py `api`); a sample that would need a live API is reported as such.
"""

from __future__ import annotations

import json
import statistics
import time
from contextlib import contextmanager
from typing import Any

from .common import (
    CannedHttp,
    MemoryStore,
    memory_hub,
    table,
    use_test_environment,
    write_result,
)
from .timing import interleaved_rounds, per_call

RATE_TARGET = 2_000


def queue_message(sample) -> dict | None:
    import time

    from bench.ingest import inbound
    from chalicelib.pipeline.ingest import receive_webhook

    hub = memory_hub()
    answer = receive_webhook(hub, sample.connector_id, inbound(sample, time.time()))
    return hub.ingest_queue.messages[0] if answer.status < 300 and hub.ingest_queue.messages else None


def canned_http(sample) -> CannedHttp:
    from tests.support.senders import FIXTURES

    return CannedHttp(
        {fragment: json.loads((FIXTURES / name).read_bytes()) for fragment, name in sample.api.items()}
    )


STAGES = {
    "parse": ("parse",),
    "enrich": ("enrich",),
    "identity": ("author_links", "resolve_links"),
    "score": ("person_stats", "advocate_score"),
}


@contextmanager
def stage_clock(provider_name: str):
    """Wrap the functions process_message calls for each stage and add up their time."""
    from chalicelib.pipeline import process
    from chalicelib.providers import get_provider

    spent = {stage: 0.0 for stage in STAGES}
    patched: list[tuple[Any, str, Any]] = []

    def timed(stage, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
                return list(result) if stage == "parse" else result
            finally:
                spent[stage] += time.perf_counter() - start

        return wrapper

    provider = get_provider(provider_name)
    patched.append((provider, "parse", None))
    provider.parse = timed("parse", type(provider).parse.__get__(provider))
    for stage, names in STAGES.items():
        for name in names:
            if stage != "parse" and hasattr(process, name):
                patched.append((process, name, getattr(process, name)))
                setattr(process, name, timed(stage, getattr(process, name)))
    try:
        yield spent
    finally:
        for owner, name, original in patched:
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def run(budget_seconds: float = 0.5, rounds: int = 15) -> dict[str, Any]:
    use_test_environment()
    from chalicelib.pipeline.identity import normalise_email, normalise_phone
    from chalicelib.pipeline.process import process_message
    from tests.support.samples import available_samples

    rows, results, measured = [], [], []
    for sample in available_samples():
        message = queue_message(sample)
        hub = memory_hub(http=canned_http(sample))
        if message is None:
            continue
        try:
            outcome = process_message(hub, message)
        except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not fail
            rows.append(
                [
                    sample.provider,
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    f"failed: {type(exc).__name__}: {str(exc)[:60]}",
                ]
            )
            results.append(
                {"provider": sample.provider, "connector": sample.connector_id, "error": type(exc).__name__}
            )
            continue
        if not outcome.stored:
            rows.append(
                [
                    sample.provider,
                    0,
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "no interaction: " + ",".join(s.reason for s in outcome.skipped),
                ]
            )
            continue

        def full(hub=hub, message=message):
            hub.store = MemoryStore()  # a new person each time: the most work per interaction
            normalise_email.cache_clear()  # and an author never seen before
            normalise_phone.cache_clear()
            process_message(hub, message)

        measured.append((sample, hub, full, len(outcome.stored)))

    seconds = interleaved_rounds([(full, budget_seconds) for _, _, full, _ in measured], rounds)
    for (sample, hub, full, stored), took in zip(measured, seconds):
        total = statistics.median(took) / stored
        loops = max(20, int(budget_seconds / 2 / (total * stored)))
        with stage_clock(hub.connectors.get(sample.connector_id).provider) as spent:
            per_call(full, loops)
        stages = {k: v / loops / stored for k, v in spent.items()}  # measured in situ
        rest = max(0.0, total - sum(stages.values()))
        rate = 1 / total
        rows.append(
            [
                sample.provider,
                stored,
                *(round(stages[k] * 1e6) for k in stages),
                round(rest * 1e6),
                rate,
                rate >= RATE_TARGET,
            ]
        )
        results.append(
            {
                "provider": sample.provider,
                "connector": sample.connector_id,
                "interactions_per_delivery": stored,
                "us_per_interaction": total * 1e6,
                "stage_us": {k: v * 1e6 for k, v in stages.items()},
                "store_and_rest_us": rest * 1e6,
                "interactions_per_s_per_core": rate,
                "meets_target": rate >= RATE_TARGET,
            }
        )
    print(
        table(
            "Processing path (process_message, in-memory store; one core; microseconds per interaction)",
            [
                "provider",
                "per delivery",
                "parse",
                "enrich",
                "identity",
                "score",
                "store+rest",
                "interactions/s",
                "target met",
            ],
            rows,
        )
    )
    print(
        f"target: >= {RATE_TARGET:,} interactions/s per core. enrich = language detection + VADER sentiment.\n"
        f"rates: medians of {rounds} rounds interleaved across the samples; stages: a separate timed pass"
    )
    path = write_result(
        "processing", {"targets": {"interactions_per_s_min": RATE_TARGET}, "results": results}
    )
    return {"results": results, "path": str(path)}
