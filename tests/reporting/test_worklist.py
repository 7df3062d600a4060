"""The check-mappings artifact, rendered from a tiny worklist (no Prefect run, no files)."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from basics.shanghai import in_shanghai
from reporting.worklist import ARTIFACT_ROWS, markdown
from transforms.worklist import Worklist

START, END = in_shanghai(datetime(2026, 11, 1)), in_shanghai(datetime(2026, 11, 8))


def test_the_artifact_counts_each_list_shows_its_first_rows_escaped_and_points_at_the_files(tmp_path):
    extra = 3
    shops = pl.DataFrame(
        {
            "shop_id": [str(10100 + n) for n in range(ARTIFACT_ROWS + extra)],
            "shop_name": ["[新店](http://x)"] * (ARTIFACT_ROWS + extra),
            "held_documents": [2] * (ARTIFACT_ROWS + extra),
            "hint": ["在店铺表中添加一行"] * (ARTIFACT_ROWS + extra),
        }
    )
    worklist = Worklist(
        shops=shops,
        warehouses=pl.DataFrame(),
        table_rows=pl.DataFrame(),
        skus=pl.DataFrame(),
        held={"held_outbound": 40, "held_returns": 6},
    )

    text = markdown(worklist, START, END, tmp_path)

    assert "2026-11-01 00:00:00 → 2026-11-08 00:00:00 (Asia/Shanghai)" in text
    assert f"| {ARTIFACT_ROWS + extra} | 0 | 0 | 0 | 40 | 6 |" in text
    assert f"## 未映射店铺 Unmapped shops ({ARTIFACT_ROWS + extra})" in text and "Unmapped warehouses" not in text
    listed = [line for line in text.splitlines() if line.startswith("- 101")]
    assert len(listed) == ARTIFACT_ROWS
    assert listed[0] == r"- 10100 \[新店\]\(http\://x\): 暂缓 2 单 held — 在店铺表中添加一行"
    assert f"- … {extra} more in the report files" in text
    assert (tmp_path / "report.xlsx").resolve().as_uri() in text and "report.html" in text
