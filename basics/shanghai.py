"""Asia/Shanghai, the one time zone of this sync: both systems store and filter Beijing wall-clock times,
and a naive datetime given to any entry point means Beijing time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now_shanghai() -> datetime:
    return datetime.now(SHANGHAI)


def in_shanghai(moment: datetime) -> datetime:
    """`moment` as an aware Shanghai time: a naive one is read as Beijing time, an aware one converted."""
    return moment.astimezone(SHANGHAI) if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


def beijing_wall_clock(moment: datetime) -> datetime:
    """Naive Beijing wall-clock time, as both systems store their dates (a naive input already is one)."""
    return in_shanghai(moment).replace(tzinfo=None)
