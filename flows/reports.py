"""What a run tells its readers: a summary that adds up (fetched = written + skipped + held +
failed), per shop, and every held row with its reasons — as Prefect artifacts (capped) and as
files in the run's report folder (complete)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import FlowRunContext

from flows.common import FAILED, HELD, SHANGHAI, SKIPPED, WOULD_CREATE, WRITTEN, RunWindow, now_shanghai

COUNTED = (WRITTEN, WOULD_CREATE, SKIPPED, HELD, FAILED)


@dataclass
class SyncReport:
    sync: str
    dry_run: bool
    window: RunWindow | None
    outcomes: pl.DataFrame  # flows.common.OUTCOME_SCHEMA, one row per in-scope document
    held_rows: pl.DataFrame  # transforms.validation.HELD_SCHEMA, one row per (line, reason)
    warnings: pl.DataFrame
    notes: dict[str, int] = field(default_factory=dict)  # out-of-scope counts and other facts
    attention: pl.DataFrame | None = None  # documents a human must look at (e.g. cancelled after booking)

    def counts(self) -> dict[str, int]:
        by_outcome = dict(self.outcomes.group_by("outcome").len().rows())
        counts = {name: int(by_outcome.get(name, 0)) for name in COUNTED}
        return {"fetched": self.outcomes.height, **counts}

    def per_shop(self) -> pl.DataFrame:
        if self.outcomes.is_empty():
            return pl.DataFrame(
                schema={"shop_id": pl.String, "shop_name": pl.String, **{c: pl.UInt32 for c in COUNTED}}
            )
        return (
            self.outcomes.with_columns(pl.col("shop_name").fill_null("(未知店铺)"))
            .group_by("shop_id", "shop_name")
            .agg(*[(pl.col("outcome") == name).sum().alias(name) for name in COUNTED])
            .sort("shop_id", nulls_last=True)
        )

    def summary(self) -> dict:
        return {
            "sync": self.sync,
            "dry_run": self.dry_run,
            "window": None if self.window is None else [self.window.start.isoformat(), self.window.end.isoformat()],
            **self.counts(),
            "held_lines": self.held_rows.height,
            "warnings": self.warnings.height,
            "notes": self.notes,
            "needs_attention": 0 if self.attention is None else self.attention.height,
        }

    def markdown(self, report_dir: Path | None) -> str:
        c = self.counts()
        head = f"# {self.sync}{' (dry run)' if self.dry_run else ''}\n\n"
        if self.window:
            start, end = self.window.start.astimezone(SHANGHAI), self.window.end.astimezone(SHANGHAI)
            head += f"Window: {start:%Y-%m-%d %H:%M:%S} → {end:%Y-%m-%d %H:%M:%S} (Asia/Shanghai)\n\n"
        written = WOULD_CREATE if self.dry_run else WRITTEN
        head += (
            f"| fetched | {written} | skipped (already in Kingdee) | held | failed |\n|---|---|---|---|---|\n"
            f"| {c['fetched']} | {c[written]} | {c[SKIPPED]} | {c[HELD]} | {c[FAILED]} |\n\n"
        )
        shops = self.per_shop()
        if not shops.is_empty():
            head += "## Per shop\n\n| shop | " + " | ".join(COUNTED) + " |\n|---|" + "---|" * len(COUNTED) + "\n"
            for row in shops.to_dicts():
                head += (
                    f"| {row['shop_name']} ({row['shop_id']}) | " + " | ".join(str(row[n]) for n in COUNTED) + " |\n"
                )
        if self.notes:
            head += "\n## Not in scope\n\n" + "".join(f"- {k}: {v}\n" for k, v in self.notes.items())
        if self.attention is not None and not self.attention.is_empty():
            head += f"\n## Needs attention ({self.attention.height})\n\n"
            head += "".join(f"- {r['document']}: {r['message']}\n" for r in self.attention.head(50).to_dicts())
        if report_dir:
            head += f"\nFull report: `{report_dir}`\n"
        return head


def _report_dir(root: Path, sync: str) -> Path:
    ctx = FlowRunContext.get()
    run = str(ctx.flow_run.id)[:8] if ctx and ctx.flow_run else "local"
    folder = root / f"{now_shanghai():%Y%m%d-%H%M%S}-{sync}-{run}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def publish(report: SyncReport, reports_root: Path, artifact_rows: int) -> Path:
    """Write the run's files, then the Prefect artifacts pointing at them."""
    folder = _report_dir(reports_root, report.sync)
    (folder / "summary.json").write_text(json.dumps(report.summary(), ensure_ascii=False, indent=2), encoding="utf-8")
    report.outcomes.write_csv(folder / "documents.csv")
    report.held_rows.write_csv(folder / "held.csv")
    report.warnings.write_csv(folder / "warnings.csv")
    if report.attention is not None:
        report.attention.write_csv(folder / "attention.csv")
    markdown = report.markdown(folder)
    (folder / "summary.md").write_text(markdown, encoding="utf-8")

    create_markdown_artifact(key=f"{report.sync}-summary", markdown=markdown, description=f"{report.sync} summary")
    if not report.held_rows.is_empty():
        shown = report.held_rows.head(artifact_rows)
        create_table_artifact(
            key=f"{report.sync}-held",
            table=shown.to_dicts(),
            description=f"{shown.height} of {report.held_rows.height} held rows; all in {folder / 'held.csv'}",
        )
    get_run_logger().info("%s: %s; report in %s", report.sync, report.counts(), folder)
    return folder
