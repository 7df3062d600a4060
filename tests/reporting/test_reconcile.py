"""The reconcile artifact, rendered from a tiny reconciliation (no Prefect run, no files)."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from reporting.reconcile import markdown
from transforms.reconcile import CLASS_LABELS, CLASSES, KINDS, KINGDEE_ROWS_SCHEMA, SIDE_SCHEMA, reconciliation

D1, D2 = datetime(2026, 11, 3, 10, 15), datetime(2026, 11, 4)
SHOPS = pl.DataFrame({"shop_id": [10086], "shop_name": ["天猫|旗舰店"], "customer_number": ["CUST001"]})


def test_the_artifact_counts_each_class_and_lists_only_the_documents_that_need_someone(tmp_path):
    jst = pl.DataFrame(
        [("IO1", D1, "10086", "天猫|旗舰店", 1.0, 1050), ("IO2", D1, "10086", "天猫|旗舰店", 1.0, 100)],
        schema=SIDE_SCHEMA,
        orient="row",
    )
    rows = pl.DataFrame([("IO1", D1, "C", "CUST001", 1.0, 10.5)], schema=KINGDEE_ROWS_SCHEMA, orient="row")
    held = pl.DataFrame(schema={"document": pl.String, "reason": pl.String})
    result = reconciliation(KINDS["outbound"], jst, held, rows, SHOPS)

    text = markdown([result], D1, D2, tmp_path)

    assert "| 销售出库单 SAL_OUTSTOCK | 2 | 1 | 1 | 1 | " + " | ".join(["0"] * (len(CLASSES) - 2)) + " |" in text
    assert " | ".join(CLASS_LABELS[name] for name in CLASSES) in text
    assert "## 需处理 Needs attention (1)" in text
    (listed,) = [line for line in text.splitlines() if line.startswith("- SAL_OUTSTOCK")]
    assert listed.startswith(r"- SAL_OUTSTOCK IO2 (天猫\|旗舰店): **金蝶缺单**")
    assert f"`{tmp_path / 'report.xlsx'}`" in text
