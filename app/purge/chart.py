"""Geometry of the admin page's chart: bytes freed (bars) and items purged (line) per run.

Plain numbers in, coordinates out; the template draws them as SVG with classes the
stylesheet colours (the CSP forbids inline styles and scripts, and no chart library is
needed). Counts are under ``purged``, never ``items``: in Jinja ``tick.items`` is the
dict's method, which once printed "<built-in method items …>" on the axis.

The drawing is 800 units wide with 13-unit text and fills the panel (about 1,100 px on a
desktop, so the text is about 17 px); on a phone (about 310 px wide) the stylesheet draws
the text at 30 units, so it stays about 11 px tall, never 5 px.

Runs that purged nothing (a scheduled run with nothing due, a "Run now" on an empty
trash) are not drawn as bars of nothing: they are counted in ``idle`` and the page says
"N runs with nothing to do" under the chart, or instead of it when no run did anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 800, 260
LEFT, RIGHT, TOP, BOTTOM = 84, 52, 16, 40
MAX_LABELS = 6
MIN_BYTES_SCALE = 1024  # an axis of nothing reads 0 B / 512 B / 1.0 KB, not 0 B / 0 B / 1 B


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above ``value`` (1 for nothing)."""
    if value <= 0:
        return 1
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        candidate = step * 10 ** exponent
        if candidate >= value:
            return candidate
    return 10 ** (exponent + 1)  # pragma: no cover - the loop always returns


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    bars: list[dict] = field(default_factory=list)
    points: list[dict] = field(default_factory=list)
    ticks: list[dict] = field(default_factory=list)
    labels: list[dict] = field(default_factory=list)
    idle: int = 0  # runs left out: they purged nothing

    @property
    def polyline(self) -> str:
        return " ".join(f"{p['x']:.1f},{p['y']:.1f}" for p in self.points)

    @property
    def empty(self) -> bool:
        return not self.bars


def even_ceiling(value: float) -> int:
    """``nice_ceiling`` made even (at least 2), so the middle tick is a whole number."""
    top = int(nice_ceiling(value))
    return top * 2 if top % 2 else top


def runs_chart(runs) -> Chart:
    """``runs`` oldest first; each with ``id``, ``started_at``, ``bytes_freed``, ``deleted``.
    Runs that purged nothing are counted in ``idle``, not drawn."""
    chart = Chart()
    every = list(runs)
    runs = [run for run in every if run.deleted or run.bytes_freed]
    chart.idle = len(every) - len(runs)
    if not runs:
        return chart
    plot_w, plot_h = chart.right - chart.left, chart.bottom - chart.top
    most_bytes = max(r.bytes_freed for r in runs)
    max_bytes = nice_ceiling(most_bytes) if most_bytes else MIN_BYTES_SCALE
    max_items = even_ceiling(max(r.deleted for r in runs))
    slot = plot_w / len(runs)
    bar_w = max(2.0, min(slot * 0.6, 64.0))  # one run is a bar, not a wall
    for fraction in (0, 0.5, 1):
        chart.ticks.append({"y": chart.bottom - fraction * plot_h,
                            "bytes": max_bytes * fraction,
                            "purged": int(max_items * fraction)})  # even: whole
    # Runs of several days are labelled by day, once per day; runs of one day by time.
    by_day = len({run.started_at.date() for run in runs}) > 1
    candidates, last_text = [], None
    for index, run in enumerate(runs):
        center = chart.left + slot * (index + 0.5)
        bar_h = plot_h * run.bytes_freed / max_bytes
        when = run.started_at.strftime("%Y-%m-%d %H:%M")
        chart.bars.append({"x": center - bar_w / 2, "y": chart.bottom - bar_h, "width": bar_w,
                           "height": bar_h, "run": run.id, "when": when,
                           "bytes": run.bytes_freed, "purged": run.deleted,
                           "started_at": run.started_at})
        chart.points.append({"x": center, "y": chart.bottom - plot_h * run.deleted / max_items,
                             "run": run.id, "purged": run.deleted, "when": when,
                             "started_at": run.started_at})
        text = run.started_at.date().isoformat() if by_day else run.started_at.strftime("%H:%M")
        if text != last_text:
            candidates.append({"x": center, "at": run.started_at, "by_day": by_day,
                               "text": text})
            last_text = text
    chart.labels = candidates[::max(1, math.ceil(len(candidates) / MAX_LABELS))]
    return chart
