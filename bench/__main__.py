"""`make bench`: every benchmark in turn, or the ones named: python -m bench ingest processing.

Options: --quick (shorter loops and a 5 s load run), --skip-build (do not run `chorus package`).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time

from .common import RESULTS, machine

ORDER = ["ingest", "processing", "drain", "e2e", "ack", "crash", "coldstart", "size", "cost", "listeners"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        choices=[[], *ORDER],
        default=[],
        metavar="NAME",
        help=f"benchmarks to run (default all): {', '.join(ORDER)}",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--rate", type=float, default=200.0, help="end-to-end offered deliveries/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="end-to-end load duration")
    parser.add_argument("--alone", action="store_true", help=argparse.SUPPRESS)  # one child of a full run
    args = parser.parse_args(argv)
    names = args.names or ORDER
    if not args.alone:
        info = machine()
        print(
            f"# Chorus benchmarks: {info['processor']}, {info['cores']} cores, Python {info['python']}, "
            f"{platform.system()} {platform.release()}"
        )
        print(f"# load average at start: {_loadavg()}; results in {RESULTS}/", flush=True)
    started = time.perf_counter()
    if len(names) > 1:
        # each in a process of its own: what one leaves on the heap (the ingest run's queued
        # messages) made the next one's garbage collection slower by ~100 us per interaction
        flags = [
            *(["--quick"] if args.quick else []),
            *(["--skip-build"] if args.skip_build else []),
            "--rate",
            str(args.rate),
            "--seconds",
            str(args.seconds),
            "--alone",
        ]
        for name in names:
            subprocess.run([sys.executable, "-m", "bench", name, *flags], check=False)
        print(f"\n# done in {time.perf_counter() - started:.0f} s; load average now: {_loadavg()}")
        return 0
    for name in names:
        if name == "ingest":
            from . import ingest

            ingest.run(0.15 if args.quick else 0.4)
        elif name == "processing":
            from . import processing

            processing.run(0.2 if args.quick else 0.5)
        elif name == "drain":
            from . import drain

            drain.run(500 if args.quick else 2000)
        elif name == "e2e":
            from . import e2e

            e2e.run(rate=args.rate, seconds=5.0 if args.quick else args.seconds)
        elif name == "ack":
            from . import ack

            ack.run(rate=300.0, seconds=5.0 if args.quick else 10.0)
        elif name == "crash":
            from . import crash

            crash.run(rounds=2 if args.quick else 10, burst=200 if args.quick else 1000)
        elif name == "coldstart":
            from . import coldstart

            coldstart.run(7 if args.quick else 21)
        elif name == "size":
            from . import size

            size.run(build_if_missing=not args.skip_build)
        elif name == "cost":
            from . import cost

            cost.run(120 if args.quick else 250)
        elif name == "listeners":
            from . import listeners

            listeners.run(0.2 if args.quick else 1.0)
        sys.stdout.flush()
    if not args.alone:
        print(f"\n# done in {time.perf_counter() - started:.0f} s; load average now: {_loadavg()}")
    return 0


def _loadavg() -> str:
    try:
        return open("/proc/loadavg").read().split()[:3].__str__()
    except OSError:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
