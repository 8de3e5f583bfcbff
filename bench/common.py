"""Shared pieces of the benchmarks (timing is bench/timing.py): tables, JSON results, and
in-memory stand-ins for the queue, the store and the HTTP session."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def use_test_environment() -> None:
    """Secrets and connector files of the test suite (nothing reaches the network)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.paths import CONNECTORS
    from tests.support.senders import SECRETS

    os.environ.update(
        {
            "CHORUS_CONFIG_DIR": str(CONNECTORS),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            **SECRETS,
        }
    )
    os.environ.setdefault("CHORUS_LOG_LEVEL", "WARNING")
    import tempfile

    os.chdir(tempfile.mkdtemp(prefix="chorus-bench-"))  # the file sink writes relative paths


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def table(title: str, columns: list[str], rows: list[list[Any]]) -> str:
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    out = [f"\n## {title}", line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(out)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "").replace("-", "").replace("x", "").isdigit()


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "system": platform.system(),
        "processor": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "benchmark": name,
                "machine": machine(),
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **payload,
            },
            indent=2,
            default=str,
        )
    )
    return path


# ---- stand-ins -----------------------------------------------------------------------------


class FakeQueue:
    """A queue client whose send() appends (what the ingest benchmark stubs SQS with)."""

    def __init__(self):
        self.messages: list[dict] = []

    def send(self, message: dict) -> None:
        self.messages.append(message)

    def send_many(self, messages: list[dict]) -> None:
        self.messages.extend(messages)


class FakeBlobs:
    def __init__(self):
        self.blobs: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> str:
        self.blobs[key] = data
        return f"mem://{key}"

    def get(self, ref: str) -> bytes:
        return self.blobs[ref.removeprefix("mem://")]


class MemoryStore:
    """The Store methods process_message uses, in dictionaries (no serialisation)."""

    def __init__(self):
        self.processed: set[tuple[str, str]] = set()
        self.identities: dict[str, str] = {}
        self.confidence: dict[str, float] = {}
        self.people: dict[str, tuple[Any, int]] = {}
        self.interactions: dict[str, dict[str, Any]] = {}
        self.sync_states: dict[tuple[str, str], Any] = {}
        self.counts: dict[tuple[str, str], int] = {}
        self.letters: list[Any] = []

    def atomic(self):
        import contextlib

        return contextlib.nullcontext()

    def is_processed(self, connector_id, event_id):
        return (connector_id, event_id) in self.processed

    def mark_processed(self, connector_id, event_id, ttl_days):
        self.processed.add((connector_id, event_id))

    def find_identities(self, refs):
        return {r.key: self.identities[r.key] for r in refs if r.key in self.identities}

    def claim_identity(self, ref, person_id):
        return self.identities.setdefault(ref.key, person_id)

    def get_person(self, person_id):
        return self.get_person_versioned(person_id)[0]

    def get_person_versioned(self, person_id):
        return self.people.get(person_id, (None, None))

    def put_person(self, person, expected_version):
        from chalicelib.store.base import VersionConflict

        current = self.people.get(person.person_id, (None, None))[1]
        if current != expected_version:
            raise VersionConflict(person.person_id)
        self.people[person.person_id] = (person, (expected_version or 0) + 1)
        return (expected_version or 0) + 1

    def get_interaction(self, person_id, interaction_id):
        return self.interactions.get(person_id, {}).get(interaction_id)

    def put_interaction(self, interaction):
        timeline = self.interactions.setdefault(interaction.person_id, {})
        old = timeline.get(interaction.interaction_id)
        if old is not None and old.version_time > interaction.version_time:
            return False
        timeline[interaction.interaction_id] = interaction
        return True

    def person_interactions(self, person_id):
        return sorted(self.interactions.get(person_id, {}).values(), key=lambda i: i.occurred_at)

    def connector_interactions(self, connector_id, limit):
        found = [i for t in self.interactions.values() for i in t.values() if i.connector_id == connector_id]
        return sorted(found, key=lambda i: i.occurred_at, reverse=True)[:limit]

    def advocates(self, min_score, limit):
        people = [p for p, _ in self.people.values() if p.advocate.score >= min_score]
        return sorted(people, key=lambda p: p.advocate.score, reverse=True)[:limit]

    def get_sync_states(self, keys):
        return {k: self.sync_states[k] for k in keys if k in self.sync_states}

    def put_sync_state(self, state):
        self.sync_states[(state.person_id, state.connector_id)] = state

    def put_dead_letter(self, letter):
        self.letters.append(letter)

    def dead_letters(self, connector_id, limit):
        return [x for x in self.letters if x.connector_id == connector_id][:limit]

    def delete_dead_letter(self, letter):
        self.letters.remove(letter)

    def count_event(self, connector_id, reason):
        self.counts[(connector_id, reason)] = self.counts.get((connector_id, reason), 0) + 1

    def touch_connector(self, connector_id, received_at):
        self.counts[(connector_id, "touched")] = 1

    def erasure_salt(self):
        return "memory-store-salt"

    def put_erasures(self, hashes, erased_at):
        self.erased = getattr(self, "erased", set()) | set(hashes)

    def any_erased(self, hashes):
        return bool(getattr(self, "erased", set()) & set(hashes))

    def claim_loop_slot(self, person_id, rule, interaction_id, now, cooldown_seconds):
        slots = self.__dict__.setdefault("loop_slots", {})
        return slots.setdefault((person_id, rule), interaction_id) == interaction_id

    def put_action(self, action):
        self.__dict__.setdefault("actions", []).append(action)
        return True

    def find_identity_links(self, refs):
        return {
            r.key: (self.identities[r.key], self.confidence.get(r.key, 1.0))
            for r in refs
            if r.key in self.identities
        }

    def claim_identity_link(self, link, person_id):
        owner = self.identities.setdefault(link.key, person_id)
        if owner == person_id:
            self.confidence[link.key] = getattr(link, "confidence", 1.0)
        return owner

    def claim_identity_links(self, links, person_id):
        if any(self.identities.get(link.key, person_id) != person_id for link in links):
            return False
        return all(self.claim_identity_link(link, person_id) == person_id for link in links)

    def repoint_identity(self, ref, from_person, to_person):
        if self.identities.get(ref.key) != from_person:
            return False
        self.identities[ref.key] = to_person
        return True

    def delete_interaction(self, person_id, interaction_id):
        self.interactions.get(person_id, {}).pop(interaction_id, None)

    def delete_sync_state(self, person_id, connector_id):
        self.sync_states.pop((person_id, connector_id), None)


@dataclass
class CannedResponse:
    status_code: int
    payload: Any
    headers: dict

    def json(self) -> Any:
        return self.payload

    @property
    def text(self) -> str:
        return json.dumps(self.payload)


class CannedHttp:
    """A requests-like session answering GETs from fixtures by URL fragment; 404 otherwise."""

    def __init__(self, routes: dict[str, Any]):
        self.routes = routes
        self.calls = 0

    def request(self, method: str, url: str, **kwargs: Any) -> CannedResponse:
        self.calls += 1
        for fragment, payload in self.routes.items():
            if fragment in url:
                return CannedResponse(200, payload, {})
        return CannedResponse(404, {"message": "not canned"}, {})


def memory_hub(store: Any = None, http: Any = None):
    """A Hub on the test connectors with every AWS client stubbed."""
    from chalicelib.config.loader import load_connectors
    from chalicelib.hub import Hub

    hub = Hub(
        connectors=_connectors(load_connectors),
        store=store or MemoryStore(),
        ingest_queue=FakeQueue(),
        sync_queue=FakeQueue(),
        blobs=FakeBlobs(),
    )
    if http is not None:
        hub._http = http
    return hub


_CONNECTORS = None


def _connectors(load):
    global _CONNECTORS
    if _CONNECTORS is None:
        _CONNECTORS = load()
    return _CONNECTORS
