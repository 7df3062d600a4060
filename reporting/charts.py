"""Stacked bar charts of a report sheet's own rows, drawn as inline SVG for report.html (the workbook draws the
same chart natively, reporting/files.py): no script, no font or file from outside, every label escaped.

One bar per row, one segment per series column. The last category column names the bar, the one before it
groups bars (e.g. the shops of one day), and any before those split the chart into panels (e.g. one per
document kind); every panel shares one scale, so bars compare across panels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

import polars as pl

# Colour-blind-safe enough and distinct on screen and in print; series past the tenth reuse them.
PALETTE = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#eeca3b",
    "#9d755d",
    "#ff9da6",
    "#bab0ac",
)
BAR, BAR_GAP, GROUP_GAP = 14, 2, 14
PLOT_HEIGHT, LEFT, TOP = 200, 56, 34
LABEL_HEIGHT = 92  # room under the bars for the bar labels (rotated) and the group label
LEGEND_ROW, LEGEND_WIDTH = 20, 760  # the legend wraps past this width
SMALL = 6  # pixels per half-width character at the 10-11 px label sizes (a CJK character is two)


@dataclass(frozen=True)
class StackedBars:
    """A stacked column chart of a sheet: `categories` name each bar (outermost first; in the workbook they are
    adjacent columns, Excel's multi-level category axis), `series` are the stacked count columns."""

    title: str
    categories: tuple[str, ...]
    series: tuple[str, ...]
    colors: dict[str, str] | None = None  # series → colour; the palette for the rest

    def color(self, index: int, series: str) -> str:
        return (self.colors or {}).get(series) or PALETTE[index % len(PALETTE)]


def stacked_bars_svg(frame: pl.DataFrame, chart: StackedBars, headers: dict[str, str]) -> str:
    """The chart as one <svg> element; an empty frame or a chart with no series draws nothing."""
    if frame.is_empty() or not chart.series:
        return ""
    *outer, bar = chart.categories
    group = outer.pop() if outer else None
    labels = frame.select(
        (pl.concat_str([_text(frame, c) for c in outer], separator=" ") if outer else pl.lit("")).alias("panel"),
        (_text(frame, group) if group else pl.lit("")).alias("group"),
        _text(frame, bar).alias("bar"),
        *[pl.col(s).fill_null(0).cast(pl.Float64) for s in chart.series],
    )
    top = max(labels.select(pl.sum_horizontal(chart.series).max()).item(), 1)
    scale = _axis(top)
    names = [headers.get(s, s) for s in chart.series]
    legend, legend_height = _legend(chart, names)
    parts, y, width = [], TOP + legend_height, LEFT + LEGEND_WIDTH
    for (panel,), rows in labels.group_by("panel", maintain_order=True):
        drawn, panel_width = _panel(rows, chart, names, scale, y, str(panel))
        parts.append(drawn)
        width = max(width, panel_width)
        y += PLOT_HEIGHT + LABEL_HEIGHT + (24 if panel else 0)
    return (
        f'<svg class="chart" role="img" width="{width}" height="{y}" viewBox="0 0 {width} {y}" '
        f'aria-label="{escape(chart.title)}" font-size="11" font-family="inherit">'
        f'<title>{escape(chart.title)}</title><text x="0" y="16" font-size="14" font-weight="bold">'
        f"{escape(chart.title)}</text>{legend}{''.join(parts)}</svg>"
    )


def _text(frame: pl.DataFrame, column: str) -> pl.Expr:
    value = pl.col(column)
    text = value.dt.to_string("%Y-%m-%d") if frame.schema[column] == pl.Date else value.cast(pl.String)
    return text.fill_null("—")


def _width(text: str) -> int:
    """Half-widths of `text` (CJK characters count double), for laying out labels without a font."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _axis(top: float) -> list[float]:
    """Round tick values from 0 to at least `top`, about four steps (1, 2 or 5 × 10ⁿ)."""
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [step * i for i in range(math.ceil(top / step) + 1)]


def _legend(chart: StackedBars, names: list[str]) -> tuple[str, int]:
    """A colour key per series, in rows no wider than LEGEND_WIDTH; returns (svg, height)."""
    x, y, items = LEFT, TOP, []
    for i, (series, name) in enumerate(zip(chart.series, names, strict=True)):
        step = 28 + SMALL * _width(name)
        if x > LEFT and x + step > LEFT + LEGEND_WIDTH:
            x, y = LEFT, y + LEGEND_ROW
        items.append(
            f'<rect x="{x}" y="{y - 8}" width="12" height="12" fill="{chart.color(i, series)}"/>'
            f'<text x="{x + 16}" y="{y + 2}">{escape(name)}</text>'
        )
        x += step
    return f'<g class="legend">{"".join(items)}</g>', y - TOP + LEGEND_ROW


def _panel(rows: pl.DataFrame, chart: StackedBars, names: list[str], ticks: list[float], y0: int, title: str):
    """One panel: its title, the y axis with grid lines, the bars and their labels; returns (svg, width)."""
    top = y0 + (24 if title else 0)
    base = top + PLOT_HEIGHT
    per_unit = PLOT_HEIGHT / ticks[-1]
    out = [f'<text x="{LEFT}" y="{top - 8}" font-weight="bold">{escape(title)}</text>'] if title else []
    x, previous = LEFT + BAR_GAP, None
    groups: list[tuple[str, float, float]] = []  # label, first bar's x, where the group (or its label) ends
    for row in rows.iter_rows(named=True):
        if row["group"] != previous:
            if previous is not None:
                x = max(x, groups[-1][2]) + GROUP_GAP
            groups.append((row["group"], x, x + SMALL * _width(row["group"])))
            previous = row["group"]
        out.append(_bar(row, chart, names, x, base, per_unit))
        out.append(
            f'<text transform="translate({x + BAR / 2 + 4},{base + 6}) rotate(90)" font-size="10">'
            f"{escape(row['bar'])}</text>"
        )
        groups[-1] = (groups[-1][0], groups[-1][1], max(groups[-1][2], x + BAR))
        x += BAR + BAR_GAP
    width = int(max([x, *(end for _, _, end in groups)]) + GROUP_GAP)
    for tick in ticks:
        ty = base - tick * per_unit
        out.insert(
            0,
            f'<line x1="{LEFT}" x2="{width}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#d0d7de"/>'
            f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick:g}</text>',
        )
    for name, start, end in groups:
        out.append(
            f'<text x="{(start + end) / 2:.1f}" y="{base + LABEL_HEIGHT - 6}" text-anchor="middle" '
            f'font-size="10">{escape(name)}</text>'
        )
    return f'<g class="panel">{"".join(out)}</g>', width


def _bar(row: dict, chart: StackedBars, names: list[str], x: float, base: float, per_unit: float) -> str:
    """The stacked segments of one bar, bottom up; each says what it counts when hovered."""
    label = " ".join(v for v in (row["panel"], row["group"], row["bar"]) if v)
    y, out = base, []
    for i, (series, name) in enumerate(zip(chart.series, names, strict=True)):
        value = row[series]
        if value <= 0:
            continue
        height = value * per_unit
        y -= height
        out.append(
            f'<rect class="segment" data-series="{escape(series)}" data-value="{value:g}" x="{x}" y="{y:.1f}" '
            f'width="{BAR}" height="{height:.1f}" fill="{chart.color(i, series)}">'
            f"<title>{escape(label)}: {escape(name)} {value:g}</title></rect>"
        )
    return "".join(out)
