"""report.html in a real browser: Debian's headless Chromium driven by Playwright, over the reports of real runs
(outbound and returns syncs, then reconcile with a bill deleted and one edited) against the emulators.

The page must render with Chinese glyphs (not boxes), sort and filter its tables, draw its charts, and ask for
nothing beyond its own file. Screenshots are kept in .artifacts/browser/ for a person to look at. Chromium
comes from `make browser` (which `make test` runs); without it the tests are skipped saying so, and fail in CI.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest
from prefect.variables import Variable

from sandbox.data import generate_world
from tests.conftest import TEST_SEED
from tests.servers import point_at_sandbox, served
from transforms.reconcile import CLASSES

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".artifacts" / "browser"
CHROMIUM = Path(os.environ.get("SYNC_TEST_CHROMIUM", "/usr/bin/chromium"))
# Debian's chromium headless, quiet: no first-run, sync, component or background requests of its own.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
CJK_FONT = re.compile(r"CJK|WenQuanYi|Hei|Song|Ming|Kai|Fang", re.IGNORECASE)


def _playwright_or_skip():
    """Playwright's sync API, or a skip (a failure in CI, which must have the browser) saying what is missing."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright package is missing: pip install -e '.[dev]' (or make test)"
    if reason is None and not CHROMIUM.exists():
        reason = f"no Chromium at {CHROMIUM}: `make browser` installs Debian's chromium and CJK fonts"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(f"BROWSER TESTS NOT RUN: {reason}")
    return sync_playwright


@dataclass
class Reports:
    outbound: Path
    reconcile: Path


@pytest.fixture(scope="module")
def reports(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reports]:
    """The outbound sync's and reconcile's report folders of one sandbox world."""
    from flows.outbound import sync_outbound
    from flows.reconcile import reconcile
    from flows.returns import sync_returns
    from sandbox.jushuitan import create_app as jushuitan_app
    from sandbox.kingdee import create_app as kingdee_app

    world = generate_world(seed=TEST_SEED, days=10, orders_per_day=12)
    tmp = tmp_path_factory.mktemp("browser")
    with served(jushuitan_app(world)) as jst, served(kingdee_app(world.kingdee)) as kingdee:
        with pytest.MonkeyPatch.context() as env:
            point_at_sandbox(env, jst.url, kingdee.url, tmp)
            for sync in ("outbound", "returns"):
                Variable.unset(f"jst_kingdee_watermark_{sync}")
            window = {"since": world.start - timedelta(days=1), "until": datetime.now(world.end.tzinfo)}
            sync_outbound(**window)
            sync_returns(**window)
            admin = f"{kingdee.url}/__admin/bills/SAL_OUTSTOCK"
            deleted, edited = sorted(bill["FBillNo"] for bill in httpx.get(admin).json())[:2]
            httpx.post(f"{admin}/{deleted}/delete").raise_for_status()
            httpx.post(f"{admin}/{edited}", json={"FEntity": [{"FRealQty": 99}]}).raise_for_status()
            folder = Path(reconcile(**window)["report_dir"])
    (outbound,) = (tmp / "reports").glob("*-outbound-*")
    yield Reports(outbound=outbound, reconcile=folder)


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module (a fresh profile of its own)."""
    sync_playwright = _playwright_or_skip()
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()
    print(f"\nscreenshots in {ARTIFACTS}")


@dataclass
class Opened:
    page: object  # playwright.sync_api.Page
    outside: list[str]  # requests for anything but a local file, refused
    errors: list[str]  # script errors on the page


@pytest.fixture
def open_page(browser):
    """Open a report file in a new context whose every request is checked: only file:// goes through."""
    contexts = []

    def open_file(path: Path) -> Opened:
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        contexts.append(context)
        opened = Opened(context.new_page(), [], [])

        def route(request_route) -> None:
            url = request_route.request.url
            if url.startswith("file://"):
                request_route.continue_()
            else:
                opened.outside.append(url)
                request_route.abort()

        context.route("**/*", route)
        opened.page.on("pageerror", lambda error: opened.errors.append(str(error)))
        opened.page.goto(path.resolve().as_uri())
        return opened

    yield open_file
    for context in contexts:
        context.close()


def _links(page) -> list[str]:
    return page.eval_on_selector_all("[src], [href], [srcset], [action]", "els => els.map(e => e.outerHTML)")


def _platform_fonts(page, selector: str) -> list[str]:
    """The fonts Chromium really drew `selector`'s text with (DevTools' CSS.getPlatformFontsForNode)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return [f"{font['familyName']} ({font['glyphCount']})" for font in fonts]


def _visible_column(page, section: str, column: int) -> list[str]:
    return page.eval_on_selector_all(
        f"{section} table.sheet > tbody > tr:not([hidden])",
        f"rows => rows.map(r => r.cells[{column}].textContent.trim())",
    )


def _column(headers: list[str], prefix: str) -> int:
    (index,) = [i for i, header in enumerate(headers) if header.startswith(prefix)]
    return index


def test_the_sync_report_renders_chinese_glyphs_and_asks_for_nothing_outside_its_file(reports, open_page):
    opened = open_page(reports.outbound / "report.html")
    page = opened.page

    assert page.title().startswith("聚水潭 ↔ 金蝶 销售出库同步报告")
    assert page.locator("h2").first.inner_text() == "概要 overview"
    fonts = _platform_fonts(page, "h1")
    assert any(CJK_FONT.search(font) for font in fonts), f"Chinese drawn without a CJK font: {fonts}"
    assert opened.outside == [] and opened.errors == []
    assert all(re.search(r'(href|src)="#', link) for link in _links(page)), _links(page)
    page.screenshot(path=ARTIFACTS / "sync-report-top.png")


def test_held_documents_filter_by_shop_and_rule_sort_by_a_header_and_unfold_their_lines(reports, open_page):
    flat = pl.read_csv(reports.outbound / "held.csv", infer_schema=False)
    page = open_page(reports.outbound / "report.html").page
    section = "section:has(h2:text-is('暂缓明细 held'))"
    headers = page.eval_on_selector_all(f"{section} thead tr:first-child th", "ths => ths.map(t => t.textContent)")
    shop, lines, reasons = (_column(headers, p) for p in ("店铺名称", "暂缓行数", "暂缓原因"))
    boxes = page.locator(f"{section} tr.filters input")
    assert len(_visible_column(page, section, 0)) == flat["document"].n_unique()

    boxes.nth(shop).fill("小红书")
    shown = _visible_column(page, section, shop)
    in_shop = flat.filter(pl.col("shop_name").str.contains("小红书"))
    assert shown and set(shown) == {"小红书店"} and len(shown) == in_shop["document"].n_unique()
    assert page.locator(f"{section} .shown").inner_text() == f"显示 {len(shown)} 行 shown"
    boxes.nth(shop).fill("")
    boxes.nth(reasons).fill("qty.")
    by_rule = flat.filter(pl.col("rule_id").str.starts_with("qty."))
    assert set(_visible_column(page, section, 0)) == set(by_rule["document"]) != set()
    boxes.nth(reasons).fill("")

    header = page.locator(f"{section} thead tr:first-child th").nth(lines)
    header.click()
    ascending = [int(n) for n in _visible_column(page, section, lines)]
    assert ascending == sorted(ascending) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert [int(n) for n in _visible_column(page, section, lines)] == sorted(ascending, reverse=True)

    page.locator(f"{section} thead tr:first-child th").nth(0).click()  # by document number again
    first = page.locator(f"{section} table.sheet > tbody > tr").first
    document = first.locator("td").first.inner_text()
    assert document == min(flat["document"])
    first.locator("summary").click()
    nested = first.locator("table.lines tbody tr")
    assert nested.first.is_visible() and nested.count() == flat.filter(pl.col("document") == document).height
    page.locator(f"{section} .wrap").evaluate("wrap => { wrap.scrollTop = 0; }")
    page.locator(section).screenshot(path=ARTIFACTS / "sync-report-held.png")

    chart = page.locator("svg.chart")  # held documents by shop × rule
    assert chart.count() == 1 and chart.locator("rect.segment").count() > 0
    chart.screenshot(path=ARTIFACTS / "sync-held-chart.png")


def test_the_reconcile_chart_draws_every_class_of_every_day_and_shop(reports, open_page):
    day_shop = pl.read_csv(reports.reconcile / "day_shop.csv")
    opened = open_page(reports.reconcile / "report.html")
    page = opened.page
    chart = page.locator("svg.chart")

    assert chart.count() == 1 and chart.is_visible()
    drawn = page.eval_on_selector_all(
        "svg.chart rect.segment", "rs => rs.map(r => [r.dataset.series, Number(r.dataset.value)])"
    )
    totals = {name: 0.0 for name in CLASSES}
    for series, value in drawn:
        totals[series] += value
    assert totals == {name: float(day_shop[name].sum()) for name in CLASSES}
    assert totals["missing_in_kingdee"] >= 1 and totals["quantity_mismatch"] >= 1 and totals["matched"] > 10
    assert page.locator("svg.chart g.panel").count() == day_shop["kind"].n_unique()
    assert opened.outside == [] and opened.errors == []
    chart.screenshot(path=ARTIFACTS / "reconcile-chart.png")
