"""Pieces of the report files that every report shares."""

from __future__ import annotations

import polars as pl

from reporting.files import md_bullets


def test_an_artifact_list_cut_short_says_how_many_more_the_files_hold() -> None:
    rows = pl.DataFrame({"document": [f"D{i}" for i in range(5)]})
    assert md_bullets(rows, 3, lambda row: row["document"]) == "- D0\n- D1\n- D2\n- … 2 more in the report files\n"
    assert md_bullets(rows, 5, lambda row: row["document"]) == "- D0\n- D1\n- D2\n- D3\n- D4\n"
