"""What a run tells its readers: a summary that adds up (fetched = written + skipped + held +
failed; where Submit / Audit left the saved bills is counted beside it), per shop, and every held
row with its reasons — as Prefect artifacts (capped) and as files in the run's report folder
(complete): CSV/JSON for machines, report.xlsx and report.html for the analysts (Chinese headers
with the field code beside them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import FlowRunContext
from prefect.events import emit_event

from basics.shanghai import SHANGHAI, now_shanghai
from reporting.charts import StackedBars
from reporting.files import PAGE_NAME, WORKBOOK_NAME, ReportSheet, check_writable, md_bullets, md_text, write_report
from reporting.location import check_shared, located, share
from state.settings import SyncSettings
from state.watermarks import RunWindow
from transforms.outcomes import (
    AUDIT_FAILED,
    AUDITED,
    FAILED,
    FOLLOW_UPS,
    HELD,
    NUMBERS,
    OUTCOME_SCHEMA,
    SKIPPED,
    SUBMIT_FAILED,
    SUBMITTED,
    WOULD_CREATE,
    WRITTEN,
)

COUNTED = (WRITTEN, WOULD_CREATE, SKIPPED, HELD, FAILED)
OUTCOME_ZH = {
    WRITTEN: "已写入金蝶",
    WOULD_CREATE: "将写入 (试运行)",
    SKIPPED: "金蝶已存在, 跳过",
    HELD: "暂缓",
    FAILED: "失败",
}
FOLLOW_UP_ZH = {
    SUBMITTED: "已提交, 未审核",
    SUBMIT_FAILED: "提交失败 (仍为创建状态)",
    AUDITED: "已审核",
    AUDIT_FAILED: "审核失败 (已提交, 审核中)",
}
# What each held line shows under its document (the reasons and fixes are said once, on the document's row).
HELD_LINE_FIELDS = ("line", "sku_id", "rule_id", "field", "value", "message")
UNKNOWN_SHOP = "(未知店铺)"
SYNC_ZH = {"outbound": "销售出库", "returns": "销售退货", "materials": "物料"}
HEADERS = {
    "document": "单据编号 document",
    "line": "行号 line",
    "shop_id": "店铺编号 shop_id",
    "shop_name": "店铺名称 shop_name",
    "sku_id": "商品编码 sku_id",
    "rule_id": "规则编号 rule_id",
    "severity": "级别 severity",
    "label_zh": "规则 label_zh",
    "label_en": "规则 (英文) label_en",
    "field": "字段 field",
    "value": "问题值 value",
    "message": "说明 message",
    "hint": "处理建议 hint",
    "reasons": "暂缓原因 reasons",
    "lines": "明细 lines (行号 · 商品编码 · 规则编号 · 字段 · 问题值 · 说明)",
    "outcome": "结果 outcome",
    "outcome_zh": "结果说明 outcome_zh",
    "kingdee_number": "金蝶单号 kingdee_number",
    "follow_up": "提交/审核 follow_up",
    "follow_up_zh": "提交/审核说明 follow_up_zh",
    "earlier_run": "未出报告的运行 earlier_run",
    "held_documents": "暂缓单据数 held_documents",
    "held_lines": "暂缓行数 held_lines",
    "fetched": "抓取单据数 fetched",
    WRITTEN: "已写入 written",
    WOULD_CREATE: "将写入 would_create",
    SKIPPED: "已存在跳过 skipped_existing",
    HELD: "暂缓 held",
    FAILED: "失败 failed",
    SUBMITTED: "已提交 submitted",
    SUBMIT_FAILED: "提交失败 submit_failed",
    AUDITED: "已审核 audited",
    AUDIT_FAILED: "审核失败 audit_failed",
}


@dataclass
class SyncReport:
    sync: str
    dry_run: bool
    window: RunWindow | None
    outcomes: pl.DataFrame  # transforms.outcomes.OUTCOME_SCHEMA, one row per in-scope document
    held_rows: pl.DataFrame  # transforms.validation.HELD_SCHEMA, one row per (line, reason)
    warnings: pl.DataFrame
    notes: dict[str, int] = field(default_factory=dict)  # out-of-scope counts and other facts
    attention: pl.DataFrame | None = None  # documents a human must look at (e.g. cancelled after booking)
    not_found: list[str] = field(default_factory=list)  # numbers asked for that the source system does not know
    # Outcomes of earlier runs whose report could not be written (OUTCOME_SCHEMA + earlier_run); set by publish.
    earlier: pl.DataFrame | None = None
    limit: int | None = None  # a limited run: at most this many new bills, saved as drafts
    limited: pl.DataFrame | None = None  # the documents the limit left for the next run (document, shop)
    caught: int | None = None  # a sweep: documents it wrote because Kingdee lacked them

    def limit_line(self) -> str | None:
        """What a limited run did not do, in one line."""
        if self.limit is None:
            return None
        return (
            f"limited to {self.limit}: {self.limited_count()} documents not written this run "
            "(bills saved as drafts, not submitted; the watermark did not move)"
        )

    def sweep_line(self) -> str | None:
        return None if self.caught is None else f"sweep: caught {self.caught} documents missing from Kingdee"

    def counts(self) -> dict[str, int]:
        by_outcome = dict(self.outcomes.group_by("outcome").len().rows())
        counts = {name: int(by_outcome.get(name, 0)) for name in COUNTED}
        return {"fetched": self.outcomes.height, **counts}

    def follow_ups(self) -> dict[str, int]:
        """Saved bills by where Submit / Audit left them (each bill once, in its last state)."""
        by_state = dict(self.outcomes.group_by("follow_up").len().rows())
        return {name: int(by_state.get(name, 0)) for name in FOLLOW_UPS}

    def per_shop(self) -> pl.DataFrame:
        if self.outcomes.is_empty():
            return pl.DataFrame(
                schema={"shop_id": pl.String, "shop_name": pl.String, **{c: pl.UInt32 for c in COUNTED}}
            )
        return (
            self.outcomes.with_columns(pl.col("shop_name").fill_null(UNKNOWN_SHOP))
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
            **self.follow_ups(),
            "held_lines": self.held_rows.height,
            "warnings": self.warnings.height,
            "notes": self.notes,
            "not_found": self.not_found,
            "needs_attention": 0 if self.attention is None else self.attention.height,
            "earlier_unreported": 0 if self.earlier is None else self.earlier.height,
            **({} if self.limit is None else {"limit": self.limit, "not_written_limited": self.limited_count()}),
            **({} if self.caught is None else {"sweep_caught": self.caught}),
        }

    def limited_count(self) -> int:
        return 0 if self.limited is None else self.limited.height

    def markdown(self, folder: Path | None) -> str:
        c = self.counts()
        head = f"# {self.sync}{' (dry run)' if self.dry_run else ''}\n\n"
        if self.window:
            start, end = self.window.start.astimezone(SHANGHAI), self.window.end.astimezone(SHANGHAI)
            head += f"Window: {start:%Y-%m-%d %H:%M:%S} → {end:%Y-%m-%d %H:%M:%S} (Asia/Shanghai)\n\n"
        for line in filter(None, (self.limit_line(), self.sweep_line())):
            head += f"**{line}**\n\n"
        written = WOULD_CREATE if self.dry_run else WRITTEN
        head += (
            f"| fetched | {written} | skipped (already in Kingdee) | held | failed |\n|---|---|---|---|---|\n"
            f"| {c['fetched']} | {c[written]} | {c[SKIPPED]} | {c[HELD]} | {c[FAILED]} |\n\n"
        )
        follow_ups = self.follow_ups()
        if any(follow_ups.values()):
            head += (
                "| " + " | ".join(FOLLOW_UPS) + " |\n|" + "---|" * len(FOLLOW_UPS) + "\n"
                "| " + " | ".join(str(follow_ups[name]) for name in FOLLOW_UPS) + " |\n\n"
            )
        shops = self.per_shop()
        if not shops.is_empty():
            head += "## Per shop\n\n| shop | " + " | ".join(COUNTED) + " |\n|---|" + "---|" * len(COUNTED) + "\n"
            for row in shops.to_dicts():
                head += (
                    f"| {md_text(row['shop_name'])} ({md_text(row['shop_id'])}) | "
                    + " | ".join(str(row[n]) for n in COUNTED)
                    + " |\n"
                )
        if self.notes:
            head += "\n## Not in scope\n\n" + "".join(f"- {k}: {v}\n" for k, v in self.notes.items())
        if self.not_found:
            head += f"\n## Not found in {NUMBERS[self.sync][1]} ({len(self.not_found)})\n\n"
            head += "".join(f"- {md_text(number)}\n" for number in self.not_found)
        if self.limited is not None and not self.limited.is_empty():
            head += f"\n## Not written: limited to {self.limit} ({self.limited.height})\n\n"
            head += md_bullets(self.limited, 50, lambda r: f"{md_text(r['document'])} ({md_text(r['shop_name'])})")
            head += "\nAll of them in `limited.csv`; the next run without a limit writes them.\n"
        if self.earlier is not None:
            runs = ", ".join(md_text(run) for run in self.earlier["earlier_run"].unique(maintain_order=True))
            head += (
                f"\n## Outcomes of an earlier run not reported ({self.earlier.height})\n\n"
                f"The report of the earlier run {runs} could not be written; its outcomes are listed here "
                "(earlier_unreported.csv, sheet 未出报告的结果).\n"
            )
        if self.attention is not None and not self.attention.is_empty():
            head += f"\n## Needs attention ({self.attention.height})\n\n"
            head += md_bullets(self.attention, 50, lambda r: f"{md_text(r['document'])}: {md_text(r['message'])}")
        if folder:
            workbook, page = folder / WORKBOOK_NAME, folder / PAGE_NAME
            head += (
                f"\n## 报告文件 Report files\n\n"
                f"- Excel: [{workbook}]({workbook.resolve().as_uri()})\n"
                f"- HTML: [{page}]({page.resolve().as_uri()})\n"
                f"- CSV/JSON: `{folder}`\n"
            )
        return head

    def rule_shop_counts(self) -> pl.DataFrame:
        """Held documents and held rows per rule and shop: which fix releases how much."""
        return (
            self.held_rows.group_by("rule_id", "label_zh", "shop_id", "shop_name")
            .agg(pl.col("document").n_unique().alias("held_documents"), pl.len().alias("held_lines"))
            .sort("rule_id", "shop_id", nulls_last=True)
        )

    def held_by_shop_and_rule(self) -> tuple[pl.DataFrame, dict[str, str]]:
        """Held documents per shop (rows) and rule (one column each, for a stacked chart), and the rules'
        headers. A document that breaks two rules counts under both."""
        counts = self.rule_shop_counts().with_columns(pl.col("shop_name").fill_null(UNKNOWN_SHOP))
        if counts.is_empty():
            return pl.DataFrame(schema={"shop_name": pl.String, "shop_id": pl.String}), {}
        rules = dict(counts.select("rule_id", "label_zh").unique("rule_id").sort("rule_id").iter_rows())
        wide = counts.pivot(on="rule_id", index=["shop_name", "shop_id"], values="held_documents", sort_columns=True)
        return wide.fill_null(0).sort("shop_id", nulls_last=True), {r: f"{label} {r}" for r, label in rules.items()}

    def held_documents(self) -> pl.DataFrame:
        """One row per held document: its reasons (each rule once, with how many lines it holds), its fixes, and
        its lines nested under it. held.csv keeps the flat list, one row per line and reason."""
        rows = self.held_rows
        reasons = (
            rows.group_by("document", "rule_id", "label_zh", maintain_order=True)
            .agg(pl.col("line").n_unique().alias("lines"), pl.col("hint").first())
            .group_by("document", maintain_order=True)
            .agg(
                pl.format("{} {} ({} 行 lines)", "label_zh", "rule_id", "lines").str.join("\n").alias("reasons"),
                pl.col("hint").drop_nulls().unique(maintain_order=True).str.join("\n"),
            )
        )
        lines = rows.group_by("document", maintain_order=True).agg(
            pl.col("shop_id", "shop_name").first(),
            pl.col("line").n_unique().alias("held_lines"),
            pl.struct(HELD_LINE_FIELDS).alias("lines"),
        )
        return lines.join(reasons, on="document", how="left", maintain_order="left").select(
            "document", "shop_id", "shop_name", "held_lines", "reasons", "hint", "lines"
        )

    def overview(self) -> dict[str, object]:
        """The run's counts with Chinese labels, for the first sheet of the workbook."""
        counts = self.counts()
        window = "—"
        if self.window:
            start, end = self.window.start.astimezone(SHANGHAI), self.window.end.astimezone(SHANGHAI)
            window = f"{start:%Y-%m-%d %H:%M:%S} → {end:%Y-%m-%d %H:%M:%S}"
        return {
            "同步 sync": f"{SYNC_ZH.get(self.sync, self.sync)} {self.sync}",
            "试运行 dry_run": "是 yes" if self.dry_run else "否 no",
            "时间窗口 window (Asia/Shanghai)": window,
            **{HEADERS[name]: n for name, n in {**counts, **self.follow_ups()}.items()},
            "暂缓行数 held_lines": self.held_rows.height,
            "警告数 warnings": self.warnings.height,
            "需人工处理 needs_attention": 0 if self.attention is None else self.attention.height,
            "未找到的单号 not_found": ", ".join(self.not_found) or "—",
            **{f"备注 note: {k}": v for k, v in self.notes.items()},
            **({} if self.limit is None else {"限量运行 limited run": self.limit_line()}),
            **({} if self.caught is None else {"补漏 sweep": self.sweep_line()}),
        }

    def sheets(self) -> list[ReportSheet]:
        """The workbook's sheets after the overview, in the order an analyst works through them."""
        labels = {"outcome": OUTCOME_ZH, "follow_up": FOLLOW_UP_ZH}
        order = [c for col in self.outcomes.columns for c in ((col, f"{col}_zh") if col in labels else (col,))]
        documents = self.outcomes.with_columns(
            pl.col(col).replace_strict(zh, default=None, return_dtype=pl.String).alias(f"{col}_zh")
            for col, zh in labels.items()
        ).select(order)
        by_shop_and_rule, rule_headers = self.held_by_shop_and_rule()
        sheets = [
            ReportSheet(
                "汇总 summary",
                self.rule_shop_counts(),
                HEADERS,
                "按规则 × 店铺统计暂缓单据与行数 / held documents and rows per rule and shop",
            ),
            ReportSheet(
                "暂缓分布 held by shop × rule",
                by_shop_and_rule,
                {**HEADERS, **rule_headers},
                "每个店铺按规则的暂缓单据数; 一张单据违反两条规则时两边都计 / held documents per shop and rule "
                "(a document breaking two rules counts under both)",
                chart=StackedBars(
                    "暂缓单据 按店铺 × 规则 / held documents by shop × rule", ("shop_name",), tuple(rule_headers)
                ),
            ),
            ReportSheet(
                "店铺汇总 by shop",
                self.per_shop(),
                HEADERS,
                "每个店铺各结果的单据数 / documents per outcome and shop",
            ),
            ReportSheet(
                "暂缓明细 held",
                self.held_documents(),
                HEADERS,
                "每张暂缓单据一行: 原因、处理建议, 展开看各行的问题值 (逐行清单见 held.csv) / one row per held "
                "document with its reasons and fixes; its lines unfold below (the flat list is held.csv)",
            ),
            ReportSheet(
                "单据结果 documents",
                documents,
                HEADERS,
                "本次范围内每张单据的结果及提交/审核 / every document's outcome, and its Submit / Audit",
            ),
            ReportSheet("警告 warnings", self.warnings, HEADERS, "不阻止写入的提示 / notices that did not hold"),
        ]
        if self.attention is not None:
            sheets.append(
                ReportSheet(
                    "需人工处理 attention",
                    self.attention,
                    HEADERS,
                    "需要人工在金蝶中处理的单据 / documents a person must handle in Kingdee",
                )
            )
        if self.limited is not None:
            sheets.append(
                ReportSheet(
                    "限量未写 limited",
                    self.limited,
                    HEADERS,
                    "限量运行未写入的单据, 下次不限量运行写入 / left by the limit, written by the next full run",
                )
            )
        if self.earlier is not None:
            sheets.append(
                ReportSheet(
                    "未出报告的结果 earlier unreported",
                    self.earlier,
                    HEADERS,
                    "之前运行的报告未能写出, 其单据结果列于此 / outcomes of an earlier run whose report failed",
                )
            )
        return sheets


def report_dir(root: Path, sync: str) -> Path:
    """A new folder per run, named so that a listing sorts by time and shows which sync and run."""
    folder = root / f"{now_shanghai():%Y%m%d-%H%M%S}-{sync}-{_run_label()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _run_label() -> str:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id)[:8] if ctx and ctx.flow_run else "local"


# The event an automation listens for (docs/operations.md, alerts); the flow run, its deployment and tags
# come along as related resources, so one automation can cover every sync.
HELD_ALERT_EVENT = "jst-kingdee.held.over-threshold"


class ReportNotWritten(RuntimeError):
    """The run's report failed after its bills were saved; its outcomes are kept for the next report."""


def check_reports_dir(settings: SyncSettings) -> None:
    """Before a run fetches or saves anything: a report it could not write would hide what it wrote."""
    check_writable(settings.reports_dir, "SYNC_REPORTS_DIR")
    check_shared(settings)


def publish(report: SyncReport, settings: SyncSettings) -> Path:
    """Publish the run's report (`_publish`), with the outcomes of earlier runs whose report failed, labelled;
    those are then dropped from the state directory. If this report fails (disk full, permissions changed
    mid-run), its outcome table is kept there for the next report, and the run fails so a person hears of it."""
    kept = sorted((settings.unreported_dir / report.sync).glob("*.csv"))
    if kept:
        report.earlier = pl.concat(
            pl.read_csv(path, schema=OUTCOME_SCHEMA).with_columns(earlier_run=pl.lit(path.stem)) for path in kept
        )
    try:
        folder = _publish(report, settings)
    except OSError as exc:
        unreported = settings.unreported_dir / report.sync
        unreported.mkdir(parents=True, exist_ok=True)
        path = unreported / f"{now_shanghai():%Y%m%d-%H%M%S}-{report.sync}-{_run_label()}.csv"
        report.outcomes.write_csv(path)
        raise ReportNotWritten(
            f"the {report.sync} report could not be written under SYNC_REPORTS_DIR={settings.reports_dir} ({exc}); "
            f"this run's outcomes are kept in {path} and the next run's report lists them"
        ) from exc
    for path in kept:
        path.unlink()
    return folder


def _publish(report: SyncReport, settings: SyncSettings) -> Path:
    """Write the run's files, then the Prefect artifacts pointing at them; raise the held-documents alert."""
    folder = report_dir(settings.reports_dir, report.sync)
    (folder / "summary.json").write_text(json.dumps(report.summary(), ensure_ascii=False, indent=2), encoding="utf-8")
    report.outcomes.write_csv(folder / "documents.csv")
    report.held_rows.write_csv(folder / "held.csv")
    report.warnings.write_csv(folder / "warnings.csv")
    if report.attention is not None:
        report.attention.write_csv(folder / "attention.csv")
    if report.earlier is not None:
        report.earlier.write_csv(folder / "earlier_unreported.csv")
    if report.limited is not None:
        report.limited.write_csv(folder / "limited.csv")
    sync_zh = SYNC_ZH.get(report.sync, report.sync)
    title = f"聚水潭 ↔ 金蝶 {sync_zh}同步报告 / {report.sync} sync report ({folder.name})"
    write_report(folder, title, report.sheets(), summary=report.overview())
    markdown = report.markdown(folder)
    if settings.reports_url is not None:
        markdown += f"- 共享副本 Shared copy: `{located(folder, settings)}`\n"
    (folder / "summary.md").write_text(markdown, encoding="utf-8")
    location = share(folder, settings)

    create_markdown_artifact(key=f"{report.sync}-summary", markdown=markdown, description=f"{report.sync} summary")
    if not report.held_rows.is_empty():
        shown = report.held_rows.head(settings.held_rows_in_artifact)
        create_table_artifact(
            key=f"{report.sync}-held",
            table=shown.to_dicts(),
            description=f"{shown.height} of {report.held_rows.height} held rows; all in {folder / WORKBOOK_NAME}",
        )
    counts = report.counts()
    get_run_logger().info("%s: %s; report in %s", report.sync, counts, location)
    if counts[HELD] > settings.held_alert_threshold:
        emit_event(
            event=HELD_ALERT_EVENT,
            resource={"prefect.resource.id": f"jst-kingdee.sync.{report.sync}", "prefect.resource.name": report.sync},
            payload={"held": counts[HELD], "threshold": settings.held_alert_threshold, "report": folder.name},
        )
    return folder
