"""4. Cold start: whole-process time of `python -c "import app"` against
`python -c "import boto3, pydantic"`, alternating runs, medians; plus the heaviest imports
`import app` adds (python -X importtime), to show what to make lazy."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from typing import Any

from .common import ROOT, table, write_result
from .timing import alternating_rounds

TARGET_OVERHEAD = 0.30
COMMANDS = {"baseline": "import boto3, pydantic", "app": "import app"}


def _env() -> dict[str, str]:
    from tests.support.paths import CONNECTORS
    from tests.support.senders import SECRETS

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
    env.update(
        {
            "CHORUS_CONFIG_DIR": str(CONNECTORS),
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONDONTWRITEBYTECODE": "1",
            **SECRETS,
        }
    )
    return env


def run_once(code: str, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def heaviest_imports(env: dict[str, str], top: int = 8) -> list[tuple[str, float]]:
    """What app.py imports directly (cumulative import time), leaving out what the baseline imports."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", COMMANDS["app"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    ).stderr
    base = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", COMMANDS["baseline"]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    ).stderr
    baseline_modules = set(re.findall(r"\|\s*(\S+)$", base, re.MULTILINE))
    found = []
    for line in out.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)$", line)
        if m and len(m.group(2)) <= 3 and m.group(3) not in baseline_modules | {"app"}:
            found.append((m.group(3), int(m.group(1)) / 1000))
    return sorted(found, key=lambda x: -x[1])[:top]


def run(runs: int = 15) -> dict[str, Any]:
    env = _env()
    for code in COMMANDS.values():  # warm the page cache and .pyc files
        run_once(code, {**env, "PYTHONDONTWRITEBYTECODE": ""})
    rounds = alternating_rounds([(lambda c=code: run_once(c, env), 1) for code in COMMANDS.values()], runs)
    times = dict(zip(COMMANDS, rounds))
    medians = {name: statistics.median(v) for name, v in times.items()}
    overhead = medians["app"] / medians["baseline"] - 1
    rows = [
        [f'python -c "{COMMANDS[n]}"', round(medians[n] * 1000, 1), round(min(times[n]) * 1000, 1)]
        for n in COMMANDS
    ]
    print(
        table(
            f"Cold start (whole process, {runs} alternating runs each)",
            ["command", "median ms", "min ms"],
            rows,
        )
    )
    ok = overhead <= TARGET_OVERHEAD
    print(
        f"app adds {overhead:+.0%} on top of boto3 + pydantic (target <= +{TARGET_OVERHEAD:.0%}): "
        f"{'met' if ok else 'NOT met'}"
    )
    heavy = heaviest_imports(env)
    print(
        table(
            "What `import app` adds (python -X importtime, cumulative, top-level)",
            ["module", "ms"],
            [[m, round(ms, 1)] for m, ms in heavy],
        )
    )
    path = write_result(
        "coldstart",
        {
            "runs": runs,
            "median_seconds": medians,
            "overhead": overhead,
            "target_overhead_max": TARGET_OVERHEAD,
            "meets_target": ok,
            "heaviest_added_imports_ms": dict(heavy),
        },
    )
    return {"overhead": overhead, "path": str(path)}
