"""Charts as inline SVG, drawn on the server: no chart library, no build, no script needed
to see them (a page may refresh one by fetching its SVG again).

`line_chart` draws time series (power over a session, load at a site); `bar_chart` draws
labelled values (revenue per day, spending per month). Each returns Markup for a Jinja
template: an `<svg role="img">` with a title, axes with a few round ticks and, for each
series or bar, a `data-` attribute with its values count so tests can read what was
drawn. Colours come from classes styled in static/app.css (.series-0 ... .series-3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from html import escape
from zoneinfo import ZoneInfo

from markupsafe import Markup

Number = float | int | Decimal

_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 12, 34


@dataclass(frozen=True, slots=True)
class Series:
    """One line: `points` are (time, value), in time order; `step` draws a step line
    (a limit that holds until the next change) instead of straight segments."""

    name: str
    points: Sequence[tuple[datetime, Number]]
    step: bool = False
    dashed: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _time_label(at: datetime, zone: ZoneInfo, span_seconds: float) -> str:
    local = at.astimezone(zone)
    if span_seconds > 2 * 86400:
        return local.strftime("%d %b")
    if span_seconds < 20 * 60:  # five labels minutes apart would repeat
        return local.strftime("%H:%M:%S")
    return local.strftime("%H:%M")


def line_chart(series: Sequence[Series], *, title: str, unit: str, zone: ZoneInfo | None = None,
               width: int = 720, height: int = 240, chart_id: str = "chart",
               empty: str = "No data yet.") -> Markup:
    """Time series as an SVG line chart; times on the x axis in `zone` (UTC by default)."""
    zone = zone or ZoneInfo("UTC")
    points = [p for s in series for p in s.points]
    label = escape(title)
    if not points:
        return _safe(
            f'<svg class="chart" id="{escape(chart_id)}" data-chart="{escape(chart_id)}" '
            f'data-points="0" viewBox="0 0 {width} 60" role="img" aria-label="{label}">'
            f'<title>{label}</title><text x="{width // 2}" y="34" text-anchor="middle" '
            f'class="chart-empty">{escape(empty)}</text></svg>')
    t0 = min(p[0] for p in points).timestamp()
    t1 = max(p[0] for p in points).timestamp()
    span = max(t1 - t0, 1.0)
    values = [float(p[1]) for p in points]
    ticks = nice_ticks(min(0.0, min(values)), max(values) if max(values) > 0 else 1.0)
    y0, y1 = ticks[0], ticks[-1]
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM

    def x(at: datetime) -> float:
        return _LEFT + (at.timestamp() - t0) / span * plot_w

    def y(value: Number) -> float:
        return _TOP + plot_h - (float(value) - y0) / (y1 - y0) * plot_h

    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" data-chart="{escape(chart_id)}" '
        f'data-points="{len(points)}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{label}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{label}</title>",
    ]
    for tick in ticks:
        ty = y(tick)
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{width - _RIGHT}" y1="{ty:.1f}" '
                     f'y2="{ty:.1f}"/><text class="axis" x="{_LEFT - 6}" y="{ty + 4:.1f}" '
                     f'text-anchor="end">{_fmt(tick)}</text>')
    parts.append(f'<text class="axis" x="4" y="{_TOP + 4}">{escape(unit)}</text>')
    for i in range(5):
        at_ts = t0 + span * i / 4
        at = datetime.fromtimestamp(at_ts, tz=ZoneInfo("UTC"))
        tx = _LEFT + plot_w * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(f'<text class="axis" x="{tx:.1f}" y="{height - 12}" '
                     f'text-anchor="{anchor}">{_time_label(at, zone, span)}</text>')
    for index, s in enumerate(series):
        if not s.points:
            continue
        coords: list[str] = []
        previous: float | None = None
        for at, value in s.points:
            px, py = x(at), y(value)
            if s.step and previous is not None:
                coords.append(f"{px:.1f},{previous:.1f}")
            coords.append(f"{px:.1f},{py:.1f}")
            previous = py
        extra = "".join(f' data-{escape(k)}="{escape(v)}"' for k, v in s.extra.items())
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        parts.append(f'<polyline class="line series-{index % 4}" data-series="{escape(s.name)}" '
                     f'data-points="{len(s.points)}"{extra}{dash} fill="none" '
                     f'points="{" ".join(coords)}"><title>{escape(s.name)}</title></polyline>')
    parts.append(_legend([s.name for s in series], width))
    parts.append("</svg>")
    return _safe("".join(parts))


def bar_chart(bars: Sequence[tuple[str, Number]], *, title: str, unit: str,
              width: int = 720, height: int = 240, chart_id: str = "chart",
              value_label: Callable[[Number], str] | None = None,
              empty: str = "No data yet.") -> Markup:
    """Labelled values as an SVG bar chart; each bar's tooltip gives its exact value."""
    label = escape(title)
    if not bars:
        return _safe(
            f'<svg class="chart" id="{escape(chart_id)}" data-chart="{escape(chart_id)}" '
            f'data-bars="0" viewBox="0 0 {width} 60" role="img" aria-label="{label}">'
            f'<title>{label}</title><text x="{width // 2}" y="34" text-anchor="middle" '
            f'class="chart-empty">{escape(empty)}</text></svg>')
    values = [float(v) for _, v in bars]
    ticks = nice_ticks(min(0.0, min(values)), max(values) if max(values) > 0 else 1.0)
    y0, y1 = ticks[0], ticks[-1]
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    slot = plot_w / len(bars)
    bar_w = max(2.0, slot * 0.7)

    def y(value: float) -> float:
        return _TOP + plot_h - (value - y0) / (y1 - y0) * plot_h

    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" data-chart="{escape(chart_id)}" '
        f'data-bars="{len(bars)}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{label}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{label}</title>",
    ]
    for tick in ticks:
        ty = y(tick)
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{width - _RIGHT}" y1="{ty:.1f}" '
                     f'y2="{ty:.1f}"/><text class="axis" x="{_LEFT - 6}" y="{ty + 4:.1f}" '
                     f'text-anchor="end">{_fmt(tick)}</text>')
    parts.append(f'<text class="axis" x="4" y="{_TOP + 4}">{escape(unit)}</text>')
    every = max(1, math.ceil(len(bars) / 12))  # at most ~12 labels under the bars
    for i, (name, value) in enumerate(bars):
        bx = _LEFT + slot * i + (slot - bar_w) / 2
        top, base = y(max(float(value), 0.0)), y(min(float(value), 0.0))
        shown = value_label(value) if value_label else _fmt(float(value))
        parts.append(f'<rect class="bar series-0" data-label="{escape(name)}" '
                     f'data-value="{escape(str(value))}" x="{bx:.1f}" y="{top:.1f}" '
                     f'width="{bar_w:.1f}" height="{max(base - top, 0.5):.1f}">'
                     f'<title>{escape(name)}: {escape(shown)}</title></rect>')
        if i % every == 0:
            parts.append(f'<text class="axis" x="{bx + bar_w / 2:.1f}" y="{height - 12}" '
                         f'text-anchor="middle">{escape(name)}</text>')
    parts.append("</svg>")
    return _safe("".join(parts))


def _legend(names: Sequence[str], width: int) -> str:
    if len(names) < 2:
        return ""
    parts = []
    x = width - _RIGHT
    for index in reversed(range(len(names))):
        text = escape(names[index])
        x -= 26 + 7 * len(names[index])  # swatch, gap, ~7 px a character at 12 px
        parts.append(f'<g class="legend"><rect class="swatch series-{index % 4}" x="{x}" '
                     f'y="2" width="10" height="10"/><text class="axis" x="{x + 14}" '
                     f'y="11">{text}</text></g>')
    return "".join(parts)


def _safe(svg: str) -> Markup:
    """Mark the SVG safe: every value in it went through `escape` or is a number."""
    return Markup(svg)  # noqa: S704 - built above from escaped text and numbers only
