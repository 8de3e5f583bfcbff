"""Server-rendered SVG charts for the console (no charting library, no CDN): bars stacked by
series, and a line with points. Every label is escaped; nothing in a chart runs script."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any
from xml.sax.saxutils import escape

from chalice import BadRequestError, Response

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 28, 58
STYLE = """
text { font: 11px system-ui, sans-serif; fill: #333; } .title { font-size: 13px; font-weight: 600; }
.axis { stroke: #999; stroke-width: 1; } .grid { stroke: #ddd; stroke-width: 1; }
.s0 { fill: #2563eb; } .s1 { fill: #16a34a; } .s2 { fill: #dc2626; } .s3 { fill: #d97706; }
.s4 { fill: #7c3aed; } .s5 { fill: #0891b2; } .s6 { fill: #db2777; } .s7 { fill: #65a30d; }
.line { fill: none; stroke: #2563eb; stroke-width: 2; } .dot { fill: #2563eb; }
@media (prefers-color-scheme: dark) {
  text { fill: #ddd; } .axis { stroke: #777; } .grid { stroke: #444; }
  .line { stroke: #60a5fa; } .dot { fill: #60a5fa; }
}
"""
SENTIMENT_CLASSES = {"positive": "s1", "neutral": "s5", "negative": "s2"}


def _frame(title: str, body: list[str], legend: list[tuple[str, str]]) -> str:
    items = []
    x = LEFT
    for css, name in legend:
        items.append(f'<rect x="{x}" y="{HEIGHT - 16}" width="10" height="10" class="{css}"/>')
        items.append(f'<text x="{x + 14}" y="{HEIGHT - 7}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title, {chr(34): "&quot;"})}"><title>{escape(title)}</title><style>{STYLE}</style>'
        f'<text class="title" x="{LEFT}" y="16">{escape(title)}</text>{"".join(body)}{"".join(items)}</svg>'
    )


def _axes(top_value: float, labels: list[str], bottom_value: float = 0) -> tuple[list[str], Any, Any]:
    """Axes, grid and labels; returns the elements and the x / y mapping functions."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = (top_value - bottom_value) or 1
    slot = plot_w / max(len(labels), 1)

    def x_of(i: int) -> float:
        return LEFT + slot * i

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - (value - bottom_value) / span)

    parts = []
    for step in range(5):
        value = bottom_value + span * step / 4
        y = y_of(value)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    every = max(1, len(labels) // 12)
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(
                f'<text x="{x_of(i) + slot / 2:.1f}" y="{TOP + plot_h + 14}" text-anchor="middle">'
                f"{escape(label[5:] if len(label) == 10 else label)}</text>"
            )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y_of(max(bottom_value, 0)):.1f}" y2="{y_of(max(bottom_value, 0)):.1f}"/>'
    )
    return parts, x_of, (y_of, slot)


def stacked_bars(
    title: str, labels: list[str], series: dict[str, list[float]], classes: dict[str, str] | None = None
) -> str:
    """One bar per label, one segment per series (in the order given)."""
    names = list(series)
    css = {n: (classes or {}).get(n, f"s{i % 8}") for i, n in enumerate(names)}
    totals = [sum(series[n][i] for n in names) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    parts, x_of, (y_of, slot) = _axes(_nice(top), labels)
    for i, _ in enumerate(labels):
        base = 0.0
        for name in names:
            value = series[name][i]
            if value:
                y1, y0 = y_of(base + value), y_of(base)
                parts.append(
                    f'<rect class="{css[name]}" x="{x_of(i) + slot * 0.15:.1f}" y="{y1:.1f}" '
                    f'width="{slot * 0.7:.1f}" height="{max(y0 - y1, 0.5):.1f}"><title>{escape(labels[i])} '
                    f"{escape(name)}: {value:g}</title></rect>"
                )
            base += value
    return _frame(title, parts, [(css[n], n) for n in names])


def line(
    title: str, labels: list[str], values: list[float | None], low: float, high: float, name: str
) -> str:
    """A line through the buckets that have a value (gaps where none)."""
    parts, x_of, (y_of, slot) = _axes(high, labels, low)
    points = [(x_of(i) + slot / 2, y_of(v), v, labels[i]) for i, v in enumerate(values) if v is not None]
    if len(points) > 1:
        parts.append(
            '<polyline class="line" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points) + '"/>'
        )
    for x, y, v, label in points:
        parts.append(
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3.5"><title>{escape(label)}: {v:g}</title></circle>'
        )
    return _frame(title, parts, [("s0", name)])


def _nice(value: float) -> float:
    for step in (1, 2, 4, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 4:
            return step * 4
    return value


# ---- the console's charts ---------------------------------------------------------------------
def chart_response(hub: Any, name: str, query: dict[str, str]) -> Response:
    """GET /admin/charts/{name}: deliveries.svg, pulse-talk.svg, pulse-sentiment.svg, pulse-nps.svg."""
    makers = {
        "deliveries.svg": _deliveries,
        "pulse-talk.svg": _pulse_talk,
        "pulse-sentiment.svg": _pulse_sentiment,
        "pulse-nps.svg": _pulse_nps,
    }
    if name not in makers:
        return Response(body={"error": "not_found", "message": f"no chart {name}"}, status_code=404)
    return Response(
        body=makers[name](hub, query),
        status_code=200,
        headers={"Content-Type": "image/svg+xml", "Cache-Control": "no-store"},
    )


def _deliveries(hub: Any, query: dict[str, str]) -> str:
    """The last 500 deliveries of the log by hour over the last 24 hours, accepted and refused."""
    if hub.refusals.pending:
        hub.refusals.flush(hub)
    now = hub.clock().replace(minute=0, second=0, microsecond=0)
    hours = [(now - timedelta(hours=h)) for h in range(23, -1, -1)]
    labels = [h.strftime("%H:00") for h in hours]
    records, _ = hub.store.deliveries_page(None, None, 500, None)
    counts: dict[str, Counter[str]] = {"accepted": Counter(), "refused": Counter()}
    for record in records:
        hour = record.received_at.astimezone(now.tzinfo).replace(minute=0, second=0, microsecond=0)
        kind = "refused" if record.status == "refused" else "accepted"
        counts[kind][hour.strftime("%H:00") if hour >= hours[0] else ""] += 1
    series = {k: [float(counts[k][label]) for label in labels] for k in ("accepted", "refused")}
    return stacked_bars(
        "Deliveries per hour, last 24 h (UTC)", labels, series, {"accepted": "s1", "refused": "s2"}
    )


def _pulse(hub: Any, query: dict[str, str]) -> dict[str, Any]:
    from ..admin_pulse import get_pulse

    try:
        return get_pulse(hub, query)
    except BadRequestError:
        raise


def _pulse_talk(hub: Any, query: dict[str, str]) -> str:
    doc = _pulse(hub, query)
    series = {
        channel: [float(p.get("interactions", 0)) for p in data["series"]]
        for channel, data in doc["channels"].items()
    }
    return stacked_bars(
        f"Interactions per {doc['interval']} by channel",
        doc["buckets"],
        series or {"none": [0.0] * len(doc["buckets"])},
    )


def _pulse_sentiment(hub: Any, query: dict[str, str]) -> str:
    doc = _pulse(hub, query)
    series = {label: [0.0] * len(doc["buckets"]) for label in SENTIMENT_CLASSES}
    for data in doc["channels"].values():
        for i, point in enumerate(data["series"]):
            for label in SENTIMENT_CLASSES:
                series[label][i] += point.get(label, 0)
    return stacked_bars(f"Sentiment per {doc['interval']}", doc["buckets"], series, SENTIMENT_CLASSES)


def _pulse_nps(hub: Any, query: dict[str, str]) -> str:
    doc = _pulse(hub, query)
    values: list[float | None] = []
    for i in range(len(doc["buckets"])):
        tally: Counter[str] = Counter()
        for data in doc["channels"].values():
            tally.update({k: data["series"][i].get(k, 0) for k in ("promoters", "passives", "detractors")})
        answers = sum(tally.values())
        values.append(
            round(100 * (tally["promoters"] - tally["detractors"]) / answers, 1) if answers else None
        )
    return line(
        f"NPS per {doc['interval']}", doc["buckets"], values, -100, 100, "NPS (promoters - detractors, %)"
    )
