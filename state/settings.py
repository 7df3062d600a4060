"""How the syncs run: where the hand-kept tables, state and reports live, windows, batching, and the
customer's scheme values. Env prefix SYNC_ (and `.env`); flow parameters override per run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from transforms.mappings import SchemeConfig
from transforms.outbound import NEVER_BOOKED


class SyncSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNC_", env_file=".env", extra="ignore")

    shops_table: Path = Path("config/shops.csv")
    warehouses_table: Path = Path("config/warehouses.csv")
    state_dir: Path = Path(".state")
    # The state database (state/database.py): unset, a SQLite file under state_dir; in production PostgreSQL,
    # postgresql+psycopg://user:password@host:5432/database. Secret, as it may carry the password.
    database_url: SecretStr | None = None
    reports_dir: Path = Path("reports")
    # A place every host reaches (a shared folder's path or an fsspec URL, reporting/location.py): each report
    # folder is copied there too. Secret, as it may carry a password.
    reports_url: SecretStr | None = None
    # Every incremental run re-reads this much before its watermark, so documents modified late
    # (or committed late on the Jushuitan side) are not missed; idempotent writes make it harmless.
    overlap_minutes: int = Field(10, ge=0)
    # The window ends this far before now: rows still being written upstream are left for next time.
    safety_lag_minutes: int = Field(2, ge=0)
    # First run (no watermark yet): how far back to start.
    initial_lookback_days: int = Field(7, ge=1)
    # The nightly omission sweep (flows/all.py sync-sweep) re-reads this many days before the watermark.
    sweep_days: int = Field(3, ge=1)
    batch_size: int = Field(100, ge=1, le=1000)
    # BatchSave calls in flight at once (Kingdee guidance: keep it small, 2–4).
    kingdee_concurrency: int = Field(2, ge=1, le=8)
    # Pages mapped together: a group waits for pages_per_group pages, and takes those that arrived while
    # the last group was mapped, up to max_pages_per_group (see flows.streaming.page_groups). Memory stays
    # bounded by two groups (the one mapped, the pages queued) plus the saves in flight.
    pages_per_group: int = Field(20, ge=1)
    max_pages_per_group: int = Field(1000, ge=1)
    submit_after_save: bool = False
    audit_after_submit: bool = False
    held_rows_in_artifact: int = Field(200, ge=1)
    # More held documents than this in one run emits reporting.reports.HELD_ALERT_EVENT for an automation.
    held_alert_threshold: int = Field(50, ge=0)
    org: str = "100"
    currency: str = "PRE001"
    note_prefix: str = "聚水潭"
    tracking_field: str = "FCarriageNO"
    online_order_field: str = "F_PAEZ_OnlineOrderNo"
    sell_online_field: str = "F_PAEZ_SellOnline"
    # Outbound statuses booked as SAL_OUTSTOCK, comma-separated in the env ("Confirmed,Archive"): which
    # statuses mean shipped is a tenant fact (docs/wire_facts.md).
    outbound_booked_statuses: Annotated[tuple[str, ...], NoDecode] = SchemeConfig.outbound_booked_statuses

    @field_validator("outbound_booked_statuses", mode="before")
    @classmethod
    def _booked_statuses(cls, value: Any) -> Any:
        """A comma-separated list, blanks and repeats dropped; refused when it books nothing, or books a
        revoked document (NEVER_BOOKED), so a typo stops the run before anything is read or written."""
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value  # pydantic reports the wrong type
        statuses = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
        if not statuses:
            raise ValueError("SYNC_OUTBOUND_BOOKED_STATUSES needs at least one status, e.g. Confirmed,Archive")
        revoked = [status for status in statuses if status in NEVER_BOOKED]
        if revoked:
            raise ValueError(
                f"SYNC_OUTBOUND_BOOKED_STATUSES may not book revoked documents: {', '.join(revoked)} "
                f"({'/'.join(NEVER_BOOKED)} are never booked)"
            )
        return statuses

    @property
    def held_ledger_path(self) -> Path:
        """Where the held ledger was kept before the state database: imported from there once."""
        return self.state_dir / "held.sqlite"

    @property
    def unreported_dir(self) -> Path:
        """Outcome tables of runs whose report could not be written, until a later run's report lists them."""
        return self.state_dir / "unreported"

    def scheme(self) -> SchemeConfig:
        return SchemeConfig(
            org=self.org,
            currency=self.currency,
            note_prefix=self.note_prefix,
            tracking_field=self.tracking_field,
            online_order_field=self.online_order_field,
            sell_online_field=self.sell_online_field,
            outbound_booked_statuses=self.outbound_booked_statuses,
        )
