"""The inline SVG chart, drawn from tiny frames (no browser: tests/reporting/test_browser.py looks at it)."""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from reporting.charts import StackedBars, stacked_bars_svg

FRAME = pl.DataFrame(
    {
        "kind": ["出库", "出库", "退货"],
        "day": [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 1)],
        "shop": ["天猫<旗舰>", "京东", "天猫<旗舰>"],
        "ok": [3, 0, 12],
        "bad": [1, None, 2],
    }
)
CHART = StackedBars("对账 <chart>", ("kind", "day", "shop"), ("ok", "bad"), {"ok": "#54a24b"})


def _segments(svg: str) -> list[tuple[str, float, float]]:
    """(series, value, drawn height) of every segment."""
    segment = r'data-series="(\w+)" data-value="([\d.]+)" x="[\d.]+" y="[\d.]+" width="\d+" height="([\d.]+)"'
    found = re.findall(segment, svg)
    return [(series, float(value), float(height)) for series, value, height in found]


def test_every_nonzero_count_is_one_segment_whose_height_is_proportional_to_it() -> None:
    svg = stacked_bars_svg(FRAME, CHART, {"ok": "一致 ok"})
    segments = _segments(svg)
    assert sorted((s, v) for s, v, _ in segments) == [("bad", 1), ("bad", 2), ("ok", 3), ("ok", 12)]
    per_unit = [height / value for _, value, height in segments]
    assert max(per_unit) - min(per_unit) < 0.1  # one scale for every panel (heights are drawn to 0.1 px)
    assert svg.count('<g class="panel">') == 2 and 'fill="#54a24b"' in svg


def test_labels_from_outside_are_escaped_and_the_axis_reaches_the_tallest_bar() -> None:
    svg = stacked_bars_svg(FRAME, CHART, {})
    assert "<旗舰>" not in svg and "天猫&lt;旗舰&gt;" in svg and "对账 &lt;chart&gt;" in svg
    assert "<title>出库 2026-11-01 天猫&lt;旗舰&gt;: bad 1</title>" in svg
    ticks = [float(t) for t in re.findall(r'text-anchor="end">([\d.]+)</text>', svg)]
    assert max(ticks) >= 14 and min(ticks) == 0
    assert "http" not in svg and "<script" not in svg


def test_nothing_is_drawn_for_no_rows_or_no_series() -> None:
    assert stacked_bars_svg(FRAME.clear(), CHART, {}) == ""
    assert stacked_bars_svg(FRAME, StackedBars("t", ("shop",), ()), {}) == ""
