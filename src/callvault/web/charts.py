"""Inline SVG charts drawn on the server: no script library, no CDN (banks' networks are closed).

Pure functions from figures to markup. Every chart is an `<svg role="img">` named by its `<title>` and `<desc>`
(`aria-labelledby`); each bar and each point of the ratio line carries its own `<title>` with the exact figure,
which screen readers and a mouse hover both show. Texts arrive translated; the font list covers Chinese and
Latin scripts. Colours come from classes styled in `app.css`, so a high-contrast theme can change them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape

WIDTH: Final = 960
HEIGHT: Final = 300
MARGIN_LEFT: Final = 48
MARGIN_RIGHT: Final = 48  # room for the ratio's axis
MARGIN_TOP: Final = 16
MARGIN_BOTTOM: Final = 56  # hour labels and the legend
FONT: Final = "system-ui, 'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'PingFang SC', sans-serif"


@dataclass(frozen=True)
class Series:
    """One bar of every group: a figure per hour."""

    key: str  # CSS class suffix (bar-<key>)
    label: str  # translated legend text
    values: Sequence[int]


@dataclass(frozen=True)
class Ratio:
    """A line over the bars on its own 0-100 % axis; None where the ratio is undefined (nothing offered)."""

    key: str
    label: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Texts:
    title: str
    desc: str
    empty: str  # shown instead of the chart on a day without calls


def nice_max(value: int) -> int:
    """The top of the value axis: 1, 2, 5 times a power of ten, at least `value` and at least 1."""
    if value <= 1:
        return 1
    power = 1
    while power * 10 <= value:
        power *= 10
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def bar_height(value: int, top: int, plot_height: float) -> float:
    """Bars are proportional to their value; a zero top (no data) draws nothing rather than dividing by it."""
    return round(plot_height * value / top, 2) if top > 0 and value > 0 else 0.0


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def hourly_chart(
    hours: Sequence[str],
    series: Sequence[Series],
    texts: Texts,
    *,
    ratio: Ratio | None = None,
    chart_id: str = "chart",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """A grouped bar chart, one group per hour (`hours` are the labels), with an optional ratio line.

    `chart_id` names the chart's title and description elements: give each chart of a page its own."""
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" role="img" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{title_id} {desc_id}" font-family="{FONT}" font-size="12">'
        f'<title id="{title_id}">{escape(texts.title)}</title><desc id="{desc_id}">{escape(texts.desc)}</desc>'
    )
    top_value = max((v for s in series for v in s.values), default=0)
    if not hours or top_value <= 0:
        # Every text in the markup went through escape(); the rest are numbers and fixed names.
        return Markup(  # noqa: S704
            f'{head}<text class="chart-empty" x="{width / 2}" y="{height / 2}" text-anchor="middle">'
            f"{escape(texts.empty)}</text></svg>"
        )
    parts = [head]
    plot_w = width - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM
    base = MARGIN_TOP + plot_h
    top = nice_max(top_value)
    # Grid and value axis: four steps.
    for i in range(5):
        y = base - plot_h * i / 4
        parts.append(
            f'<line class="chart-grid" x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_w}" y1="{_num(y)}" y2="{_num(y)}"/>'
            f'<text class="chart-axis" x="{MARGIN_LEFT - 6}" y="{_num(y + 4)}" text-anchor="end">'
            f"{_num(top * i / 4)}</text>"
        )
        if ratio is not None:
            parts.append(f'<text class="chart-axis" x="{MARGIN_LEFT + plot_w + 6}" y="{_num(y + 4)}">{i * 25}%</text>')
    group_w = plot_w / len(hours)
    bar_w = group_w * 0.8 / max(1, len(series))
    for h, label in enumerate(hours):
        x0 = MARGIN_LEFT + group_w * h + group_w * 0.1
        parts.append(f'<g class="chart-hour" data-hour="{h}">')
        for k, s in enumerate(series):
            value = s.values[h] if h < len(s.values) else 0
            bh = bar_height(value, top, plot_h)
            parts.append(
                f'<rect class="bar bar-{escape(s.key)}" x="{_num(x0 + bar_w * k)}" y="{_num(base - bh)}" '
                f'width="{_num(bar_w)}" height="{_num(bh)}" data-value="{value}">'
                f"<title>{escape(label)} {escape(s.label)}: {value}</title></rect>"
            )
        parts.append("</g>")
        if len(hours) <= 12 or h % 2 == 0:  # every other label on a day of 24 hours, so they stay readable
            parts.append(
                f'<text class="chart-axis" x="{_num(x0 + group_w * 0.4)}" y="{base + 16}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    if ratio is not None:
        parts.append(_ratio_line(ratio, hours, group_w, plot_h, base))
    parts.append(_legend(series, ratio, base + 38))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text part went through escape()


def _ratio_line(ratio: Ratio, hours: Sequence[str], group_w: float, plot_h: float, base: float) -> str:
    points: list[tuple[float, float, int, float]] = []
    for h, value in enumerate(ratio.values[: len(hours)]):
        if value is None:
            continue
        x = MARGIN_LEFT + group_w * (h + 0.5)
        y = base - plot_h * min(max(value, 0.0), 1.0)
        points.append((x, y, h, value))
    out = [f'<g class="line line-{escape(ratio.key)}">']
    # Hours without a ratio break the line rather than pretending it was zero.
    segment: list[str] = []
    previous = -2
    for x, y, h, _ in points:
        if h != previous + 1 and segment:
            out.append(f'<polyline fill="none" points="{" ".join(segment)}"/>')
            segment = []
        segment.append(f"{_num(x)},{_num(y)}")
        previous = h
    if segment:
        out.append(f'<polyline fill="none" points="{" ".join(segment)}"/>')
    for x, y, h, value in points:
        out.append(
            f'<circle cx="{_num(x)}" cy="{_num(y)}" r="3" data-value="{value}">'
            f"<title>{escape(hours[h])} {escape(ratio.label)}: {_pct(value)}</title></circle>"
        )
    out.append("</g>")
    return "".join(out)


def _legend(series: Sequence[Series], ratio: Ratio | None, y: float) -> str:
    out = ['<g class="chart-legend">']
    x = float(MARGIN_LEFT)
    for s in series:
        out.append(
            f'<rect class="bar bar-{escape(s.key)}" x="{_num(x)}" y="{_num(y - 9)}" width="10" height="10"/>'
            f'<text x="{_num(x + 14)}" y="{_num(y)}">{escape(s.label)}</text>'
        )
        x += 28 + 13 * len(s.label)  # generous for CJK glyphs (about twice as wide as Latin letters)
    if ratio is not None:
        out.append(
            f'<line class="line line-{escape(ratio.key)}" x1="{_num(x)}" x2="{_num(x + 14)}" y1="{_num(y - 4)}" '
            f'y2="{_num(y - 4)}"/><text x="{_num(x + 18)}" y="{_num(y)}">{escape(ratio.label)}</text>'
        )
    out.append("</g>")
    return "".join(out)
