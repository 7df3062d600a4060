"""`jst-kingdee`: ad-hoc syncs, the sandbox emulators, and the demo."""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from connectors.settings import MissingCredentials
from deploy.blocks import BLOCK_NAME


class _Commands(TyperGroup):
    """Missing credentials are the user's to fix: a message and exit status 1, not a traceback."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MissingCredentials as missing:
            typer.echo(f"Error: {missing}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(help="Jushuitan ↔ Kingdee sync.", no_args_is_help=True, add_completion=False, cls=_Commands)
sandbox_app = typer.Typer(help="The embedded emulators of both APIs.", no_args_is_help=True)
blocks_app = typer.Typer(help="Credentials as Prefect blocks, for deployments.", no_args_is_help=True)
alerts_app = typer.Typer(
    help="Alerts as Prefect automations (failed runs, held documents over a threshold).", no_args_is_help=True
)
mappings_app = typer.Typer(
    help="The hand-kept tables (shop ↔ customer, warehouse ↔ stock) in the state database, as CSV files and "
    "check-mappings' worklist.xlsx.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(blocks_app, name="blocks")
app.add_typer(alerts_app, name="alerts")
app.add_typer(mappings_app, name="mappings")


class Sync(StrEnum):
    materials = "materials"
    outbound = "outbound"
    returns = "returns"
    all = "all"


@app.command()
def sync(
    which: Sync,
    since: Annotated[
        datetime | None, typer.Option(help="Window start (Asia/Shanghai if no offset): a backfill")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Window end")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write nothing; report what would happen")] = False,
    batch_size: Annotated[int | None, typer.Option(help="Bills per Kingdee BatchSave")] = None,
    document: Annotated[list[str] | None, typer.Option(help="Replay these document numbers only")] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="At most N new bills (each sync), saved as drafts; the watermark stays put"),
    ] = None,
    sweep: Annotated[
        bool, typer.Option("--sweep", help="Re-read the SYNC_SWEEP_DAYS before the watermark; write what is missing")
    ] = False,
) -> None:
    """Run one sync now, in-process (Prefect ephemeral mode unless PREFECT_API_URL is set)."""
    from flows.all import sync_all, sync_sweep
    from flows.materials import sync_materials
    from flows.outbound import sync_outbound
    from flows.returns import sync_returns

    if which is Sync.materials and (limit or sweep):
        raise typer.BadParameter("--limit and --sweep are for outbound, returns and all (materials go to Jushuitan)")
    if sweep and (since or until or document):
        raise typer.BadParameter("--sweep takes its window from SYNC_SWEEP_DAYS: no --since, --until or --document")
    common = {"since": since, "until": until, "dry_run": dry_run}
    if which is Sync.all:
        result = sync_sweep(dry_run=dry_run) if sweep else sync_all(**common, batch_size=batch_size, limit=limit)
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    elif which is Sync.materials:
        _run_sync(which.value, sync_materials, document, **common)
    else:
        flow = sync_outbound if which is Sync.outbound else sync_returns
        _run_sync(which.value, flow, document, **common, batch_size=batch_size, limit=limit, sweep=sweep)


class Document(StrEnum):
    materials = "materials"
    outbound = "outbound"
    returns = "returns"


@app.command()
def replay(
    which: Document,
    documents: Annotated[list[str], typer.Argument(help="io_id (outbound), as_id (returns) or material numbers")],
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
) -> None:
    """Send chosen documents again, whatever the watermark (already-written ones are skipped)."""
    from flows.materials import sync_materials
    from flows.outbound import sync_outbound
    from flows.returns import sync_returns

    flow = {"materials": sync_materials, "outbound": sync_outbound, "returns": sync_returns}[which.value]
    _run_sync(which.value, flow, documents, dry_run=dry_run)


NOT_FOUND_EXIT = 3  # some of the numbers asked for are unknown to the source system (README, "Running syncs")


def _run_sync(sync: str, flow: Callable[..., dict], documents: list[str] | None, **params: object) -> None:
    """Run one sync and print its summary. Numbers that cannot be document numbers exit 2 before anything
    starts; numbers the source system does not know are named on stderr and exit NOT_FOUND_EXIT."""
    from flows.sync import InvalidDocumentNumbers, check_documents
    from transforms.outcomes import NUMBERS

    try:
        documents = check_documents(sync, documents)
    except InvalidDocumentNumbers as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    result = flow(**params, documents=documents)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
    if result["not_found"]:
        typer.echo(f"not found in {NUMBERS[sync][1]}: {', '.join(result['not_found'])}", err=True)
        raise typer.Exit(NOT_FOUND_EXIT)


def _start_sandbox(
    jst_port: int, kingdee_port: int, seed: int, days: int, orders_per_day: int, world_file: Path | None = None
):
    from sandbox.data import generate_world
    from sandbox.jushuitan import create_app as jushuitan_app
    from sandbox.kingdee import create_app as kingdee_app
    from sandbox.server import BackgroundServer
    from sandbox.world_file import WorldFileError, read_world

    try:
        world = read_world(world_file) if world_file else generate_world(seed, days, orders_per_day)
    except WorldFileError as bad:
        typer.echo(f"Error: {bad}", err=True)
        raise typer.Exit(2) from None
    jst = BackgroundServer(jushuitan_app(world), jst_port).start()
    kingdee = BackgroundServer(kingdee_app(world.kingdee), kingdee_port).start()
    return world, jst, kingdee


def _credentials_text(jst_url: str, kingdee_url: str) -> str:
    from sandbox import credentials as c

    return (
        f"Jushuitan emulator: {jst_url}   app_key={c.JST_APP_KEY} app_secret={c.JST_APP_SECRET}\n"
        f"Kingdee emulator:   {kingdee_url}/k3cloud   acct_id={c.KINGDEE_ACCT_ID} user={c.KINGDEE_USERNAME} "
        f"app_id={c.KINGDEE_APP_ID} app_secret={c.KINGDEE_APP_SECRET} password={c.KINGDEE_PASSWORD}\n"
        "(fixed development credentials of the local emulators; they open nothing else)"
    )


@sandbox_app.command("serve")
def sandbox_serve(
    jst_port: int = 8711,
    kingdee_port: int = 8712,
    seed: int = 7,
    days: int = 14,
    orders_per_day: int = 40,
    world_file: Annotated[
        Path | None, typer.Option("--world", help="Serve this capture (jst-kingdee capture), Kingdee without bills")
    ] = None,
) -> None:
    """Serve both emulators on 127.0.0.1 until interrupted."""
    world, jst, kingdee = _start_sandbox(jst_port, kingdee_port, seed, days, orders_per_day, world_file)
    typer.echo(_credentials_text(jst.url, kingdee.url))
    typer.echo(
        f"World: {world_file or f'seed {seed}'}, {len(world.outbound)} outbound, {len(world.refunds)} refunds, "
        f"{len(world.kingdee['BD_MATERIAL'])} materials. Ctrl-C to stop."
    )
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        jst.stop()
        kingdee.stop()


@app.command()
def demo(
    seed: int = 7,
    days: int = 14,
    orders_per_day: int = 40,
    state_dir: Path = Path(".state/demo"),
) -> None:
    """Start the emulators (free ports), run sync-all over the sandbox period, print the summary."""
    import httpx

    world, jst, kingdee = _start_sandbox(0, 0, seed, days, orders_per_day)
    # The demo keeps its own Prefect database (watermarks included) and token file, apart from real runs.
    prefect_home = (state_dir / "prefect").resolve()
    prefect_home.mkdir(parents=True, exist_ok=True)  # Prefect creates its database, not the folder
    os.environ["PREFECT_HOME"] = str(prefect_home)
    os.environ["JST_BASE_URL"] = jst.url
    os.environ["KINGDEE_SERVER_URL"] = f"{kingdee.url}/k3cloud"
    os.environ["JST_TOKEN_STORE_PATH"] = str(state_dir / "jushuitan_token.json")
    try:
        from prefect.variables import Variable

        from flows.all import sync_all
        from state.database import database_url, shown
        from state.settings import SyncSettings
        from state.watermarks import watermark_name

        typer.echo(_credentials_text(jst.url, kingdee.url))
        for name in ("materials", "outbound", "returns"):
            Variable.unset(watermark_name(name))  # a new sandbox: start from scratch
        result = sync_all(since=world.start, until=datetime.now(world.end.tzinfo))
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        items = httpx.get(f"{jst.url}/__admin/items").json()
        outbound = httpx.get(f"{kingdee.url}/__admin/bills/SAL_OUTSTOCK").json()
        returns = httpx.get(f"{kingdee.url}/__admin/bills/SAL_RETURNSTOCK").json()
        typer.echo(
            f"\nIn the emulators now: {len(items)} Jushuitan items, {len(outbound)} SAL_OUTSTOCK and "
            f"{len(returns)} SAL_RETURNSTOCK bills in Kingdee."
        )
        for name, summary in result.items():
            c = summary
            total = c["written"] + c["skipped_existing"] + c["held"] + c["failed"]
            typer.echo(
                f"{name:9s} fetched {c['fetched']} = written {c['written']} + skipped {c['skipped_existing']} "
                f"+ held {c['held']} + failed {c['failed']} ({'adds up' if total == c['fetched'] else 'MISMATCH'})"
            )
        typer.echo(f"Reports: {Path(os.environ.get('SYNC_REPORTS_DIR', 'reports')).resolve()}")
        typer.echo(f"State database: {shown(database_url(SyncSettings()))}")
    finally:
        jst.stop()
        kingdee.stop()


@app.command("capture")
def capture_command(
    since: Annotated[datetime, typer.Option(help="Window start (Asia/Shanghai if no offset)")],
    until: Annotated[datetime, typer.Option(help="Window end")],
    out: Annotated[Path, typer.Option(help="The file to write (gzip JSON lines); never overwritten")],
) -> None:
    """Read a window of Jushuitan documents and the Kingdee base data the syncs use into one file, without
    personal data or secrets, for `sandbox serve --world` (reads both systems, writes neither)."""
    from connectors.jushuitan import JushuitanError
    from connectors.kingdee import KingdeeError
    from flows.capture import CaptureRefused, capture

    try:
        result = capture(since=since, until=until, out=str(out))
    except CaptureRefused as refused:
        typer.echo(f"Error: {refused}", err=True)
        raise typer.Exit(2) from None
    except (JushuitanError, KingdeeError) as failed:
        typer.echo(f"Error: {failed}. No file was written.", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@app.command("reconcile")
def reconcile_command(
    since: Annotated[datetime, typer.Option(help="Period start (Asia/Shanghai if no offset)")],
    until: Annotated[datetime, typer.Option(help="Period end, exclusive")],
    kind: Annotated[list[str] | None, typer.Option(help="outbound and/or returns (default: both)")] = None,
) -> None:
    """Reconcile Jushuitan outbound/returns with Kingdee over a period; writes report.xlsx and report.html."""
    from flows.reconcile import KINDS, reconcile

    unknown = set(kind or ()) - set(KINDS)
    if unknown:
        raise typer.BadParameter(f"unknown kind(s) {sorted(unknown)}; choose from {sorted(KINDS)}")
    typer.echo(json.dumps(reconcile(since=since, until=until, kinds=kind or None), ensure_ascii=False, indent=2))


@app.command("check-mappings")
def check_mappings_command(
    since: Annotated[
        datetime | None, typer.Option(help="Period start (Asia/Shanghai if no offset); default: 7 days before until")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Period end; default: now")] = None,
) -> None:
    """List the shops, warehouses and SKUs missing from the hand-kept tables or Kingdee (report.xlsx, report.html)."""
    from flows.check_mappings import check_mappings

    typer.echo(json.dumps(check_mappings(since=since, until=until), ensure_ascii=False, indent=2))


@app.command("doctor")
def doctor_command(
    days: Annotated[int, typer.Option(min=1, help="Check the Jushuitan documents of the last N days")] = 7,
) -> None:
    """Read-only checks of the configured tenant, one table; exit 1 when a check FAILs."""
    from flows.doctor import doctor, render
    from transforms.doctor import table

    result = doctor(days=days)
    typer.echo(render(table(result["checks"]), escape=str))
    raise typer.Exit(result["exit_code"])


@blocks_app.command("register")
def blocks_register(
    name: Annotated[str, typer.Option(help="Block document name the flows look for")] = BLOCK_NAME,
) -> None:
    """Save JST_* and KINGDEE_* credentials (environment or .env) as Prefect blocks on PREFECT_API_URL."""
    from deploy.blocks import register_blocks

    for slug in register_blocks(name):
        typer.echo(f"saved {slug}")
    typer.echo("Secrets are stored as secret fields: masked in the UI and in API reads.")


@alerts_app.command("register")
def alerts_register(
    notify: Annotated[str, typer.Option(help="Notification block, <block-type-slug>/<name>, e.g. slack-webhook/ops")],
) -> None:
    """Create or replace the two automations on PREFECT_API_URL."""
    from deploy.alerts import register_alerts

    for name, automation_id in register_alerts(notify).items():
        typer.echo(f"automation {name}: {automation_id}")


class Table(StrEnum):
    shops = "shops"
    warehouses = "warehouses"


@mappings_app.command("export")
def mappings_export(
    out: Annotated[Path, typer.Option(help="Folder for shops.csv and warehouses.csv (created if missing)")],
) -> None:
    """Write both tables as the state database holds them, with config/*.csv's columns: files to edit and import."""
    from state.settings import SyncSettings
    from state.tables import export_tables

    for path in export_tables(SyncSettings(), out):
        typer.echo(f"wrote {path}")


@mappings_app.command("import")
def mappings_import(
    file: Annotated[
        Path,
        typer.Argument(
            help="A worklist workbook (.xlsx, written by check-mappings) or a whole-table CSV file (as "
            "`mappings export` writes)"
        ),
    ],
    table: Annotated[Table | None, typer.Option(help="The table a CSV file replaces (a workbook's sheets say)")] = None,
    who: Annotated[
        str | None, typer.Option("--who", "--by", help="Who made the change, kept with each row (default: $USER)")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and show the diff; apply nothing")] = False,
) -> None:
    """Check a file's rows against Kingdee (exists, usable, not mapped to another shop or warehouse) and the
    tables, show the diff, and apply it with who and when. A workbook adds or changes the rows given a
    number; a CSV file becomes the whole table. One bad or rejected row and nothing is applied."""
    import polars as pl

    from basics.shanghai import now_shanghai
    from connectors.kingdee import KingdeeClient
    from deploy.blocks import connector_settings
    from flows.set_mappings import apply_changes, diff_of, plan_change, retried_next
    from reporting.worklist import change_markdown
    from reporting.worklist_book import read_worklist_book
    from state.settings import SyncSettings
    from state.tables import TABLES, TableError, current_user

    settings, workbook = SyncSettings(), file.suffix.lower() == ".xlsx"
    try:
        if workbook:
            edits = [(TABLES[name], rows) for name, rows in read_worklist_book(file).items()]
        elif table is None:
            raise TableError(f"{file}: say which table the CSV file replaces (--table shops or --table warehouses)")
        else:
            kept = TABLES[table.value]
            edits = [(kept, kept.read_csv(file).with_columns(pl.lit(None, pl.Int64).alias("row")))]
    except TableError as bad:
        typer.echo(f"Error: {bad}. Nothing was applied.", err=True)
        raise typer.Exit(1) from None
    with KingdeeClient(connector_settings()[1]) as kingdee:
        changes = [plan_change(kingdee, settings, kept, rows, replace=not workbook) for kept, rows in edits]
    diff, rejected = diff_of(changes)
    typer.echo(change_markdown(str(file.resolve()), diff, rejected, None, escape=_plain))
    if not rejected.is_empty():
        typer.echo(f"Error: {rejected.height} rows rejected (listed above). Nothing was applied.", err=True)
        raise typer.Exit(1)
    if dry_run:
        typer.echo("dry run: nothing was applied")
        return
    applied = apply_changes(settings, changes, who or current_user(), str(file.resolve()), now_shanghai())
    for name, counts in applied.items():
        typer.echo(f"{name}: " + ", ".join(f"{count} {change}" for change, count in counts.items()))
    retried = retried_next(settings, changes)
    typer.echo(
        f"the next sync runs retry {retried['pending']} held documents, {retried['for_these_shops']} of them of "
        "the shops changed"
    )


def _plain(value: object) -> str:
    return "" if value is None else str(value)


@app.command("serve")
def serve_command(
    port: Annotated[int, typer.Option(help="Prefect server and UI port")] = 4200,
    jst_port: int = 8711,
    kingdee_port: int = 8712,
    home: Annotated[Path, typer.Option(help="PREFECT_HOME of this local server")] = Path(".state/prefect-server"),
) -> None:
    """Run the deployments locally: Prefect server, pool, deployments, emulators, blocks and a worker."""
    from deploy.serve import serve

    raise typer.Exit(serve(port, jst_port, kingdee_port, home))


if __name__ == "__main__":
    app()
