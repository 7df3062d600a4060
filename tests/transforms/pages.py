"""Documents as the Jushuitan API pages them, read into frames the way the flows read them."""

from __future__ import annotations

import json

import polars as pl

from transforms.frames import (
    OUTBOUND_PAGE,
    RECEIVED_PAGE,
    REFUND_PAGE,
    decode_pages,
    outbound_lines,
    received_dates,
    refund_lines,
)


def page(documents: list[dict]) -> bytes:
    """One list answer: {"code":0,"msg":...,"data":{...,"datas":[...]}}."""
    return json.dumps({"code": 0, "msg": "执行成功", "data": {"page_index": 1, "datas": documents}}).encode()


def outbound(documents: list[dict]) -> pl.DataFrame:
    return outbound_lines(decode_pages([page(documents)], OUTBOUND_PAGE))


def refunds(documents: list[dict]) -> pl.DataFrame:
    return refund_lines(decode_pages([page(documents)], REFUND_PAGE))


def receipts(records: list[dict]) -> pl.DataFrame:
    return received_dates(decode_pages([page(records)] if records else [], RECEIVED_PAGE))
