"""Where each sync's incremental window starts: a watermark per sync, kept as a Prefect Variable so every
worker of the Prefect server sees the same one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from prefect.variables import Variable

from basics.shanghai import SHANGHAI, in_shanghai, now_shanghai
from state.settings import SyncSettings


@dataclass(frozen=True)
class RunWindow:
    start: datetime
    end: datetime
    incremental: bool  # True: derived from the watermark, which advances when the run succeeds


def watermark_name(sync: str) -> str:
    return f"jst_kingdee_watermark_{sync}"


FULL_LOAD_START = datetime(2000, 1, 1, tzinfo=SHANGHAI)


def resolve_window(
    sync: str,
    since: datetime | None,
    until: datetime | None,
    settings: SyncSettings,
    full_first_run: bool = False,
) -> RunWindow:
    """An explicit window is a backfill: it leaves the watermark alone. Otherwise start at the stored
    watermark minus the overlap and stop `safety_lag` before now. Without a watermark, documents
    start `initial_lookback_days` back; master data (`full_first_run`) loads everything once."""
    end = in_shanghai(until) if until else now_shanghai() - timedelta(minutes=settings.safety_lag_minutes)
    if since:
        return RunWindow(start=in_shanghai(since), end=end, incremental=False)
    stored = Variable.get(watermark_name(sync), default=None)
    if stored:
        start = datetime.fromisoformat(stored) - timedelta(minutes=settings.overlap_minutes)
    elif full_first_run:
        start = FULL_LOAD_START
    else:
        start = end - timedelta(days=settings.initial_lookback_days)
    return RunWindow(start=start, end=end, incremental=until is None)


def sweep_window(sync: str, settings: SyncSettings) -> RunWindow:
    """The omission sweep's window: the `sweep_days` before the stored watermark (before the safety lag,
    without one). Up to the watermark, not now: what came after it is the next incremental run's, so what the
    sweep writes is only what the incremental runs missed."""
    stored = Variable.get(watermark_name(sync), default=None)
    end = datetime.fromisoformat(stored) if stored else now_shanghai() - timedelta(minutes=settings.safety_lag_minutes)
    return RunWindow(start=end - timedelta(days=settings.sweep_days), end=end, incremental=False)


def advance_watermark(sync: str, window: RunWindow) -> None:
    Variable.set(watermark_name(sync), window.end.isoformat(), overwrite=True)
