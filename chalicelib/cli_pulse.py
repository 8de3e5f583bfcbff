"""`chorus pulse`: the brand pulse as text (the same figures as GET /admin/pulse)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

COLUMNS = ("interactions", "mentions", "positive", "neutral", "negative", "nps", "rating", "new", "returning")
BAR_WIDTH = 40


def add_parser(sub: Any, connect: Any) -> None:
    pulse = sub.add_parser(
        "pulse", help="brand pulse: mentions, sentiment, NPS, ratings and voices by channel"
    )
    pulse.add_argument(
        "--from", dest="first", default=None, help="first day, YYYY-MM-DD (default: 30 days or 12 weeks back)"
    )
    pulse.add_argument("--to", dest="last", default=None, help="last day, YYYY-MM-DD (default: today, UTC)")
    pulse.add_argument(
        "--interval", choices=["day", "week"], default="day", help="bucket size (default: day)"
    )
    pulse.set_defaults(func=lambda args: run(args, connect))


def run(args: argparse.Namespace, connect: Any) -> int:
    from .pipeline.pulse import parse_query, pulse

    hub = connect().hub()
    try:
        query = parse_query(
            {"from": args.first or "", "to": args.last or "", "interval": args.interval}, hub.clock().date()
        )
    except ValueError as exc:
        print(f"chorus pulse: {exc}", file=sys.stderr)
        return 2
    print(render(pulse(hub, query)))
    return 0


def _row(name: str, totals: dict[str, Any]) -> list[str]:
    nps, rating = totals["nps"]["score"], totals["ratings"]["average_of_5"]
    return [
        name,
        str(totals["interactions"]),
        str(totals["mentions"]),
        *(str(totals["sentiment"][k]) for k in ("positive", "neutral", "negative")),
        "-" if nps is None else f"{nps:+.0f}",
        "-" if rating is None else f"{rating:.2f}",
        str(totals["voices"]["new"]),
        str(totals["voices"]["returning"]),
    ]


def render(doc: dict[str, Any]) -> str:
    """A table per channel, a bar per bucket of mentions, and the top voices."""
    lines = [f"Brand pulse {doc['from']} .. {doc['to']} by {doc['interval']}", ""]
    rows = [["channel", *COLUMNS]] + [_row(c, v["totals"]) for c, v in doc["channels"].items()]
    rows.append(_row("all", doc["totals"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        lines.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))
            )
        )
    per_bucket = {b: 0 for b in doc["buckets"]}
    for channel in doc["channels"].values():
        for point in channel["series"]:
            per_bucket[point["bucket"]] += point.get("mentions", 0)
    most = max(per_bucket.values(), default=0) or 1
    lines += ["", f"mentions per {doc['interval']}:"]
    for bucket, n in per_bucket.items():
        lines.append(f"  {bucket}  {'#' * round(BAR_WIDTH * n / most):<{BAR_WIDTH}}  {n}")
    for title, key in (("top voices by reach", "by_reach"), ("top voices by advocacy", "by_advocacy")):
        lines += ["", f"{title}:"]
        for voice in doc["top_voices"][key] or []:
            name = voice["display_name"] or next(iter(voice["handles"].values()), None) or voice["person_id"]
            lines.append(
                f"  {name:<28} reach {voice['reach']:>9}  score {voice['score']:6.1f}  {voice['tier']:<9} "
                f"{voice['mentions']} mention(s) on {', '.join(voice['channels'])}"
            )
        if not doc["top_voices"][key]:
            lines.append("  (none yet)")
    return "\n".join(lines)
