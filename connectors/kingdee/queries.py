"""ExecuteBillQuery: rows paged by StartRow/Limit into a frame named by the field keys, and the queries by
bill or material number, asked in bounded IN lists (the idempotency check before a save, bill statuses);
QueryBusinessInfo, a form's field keys as the tenant has them."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from basics.chunks import chunks
from connectors.kingdee.answers import business_error, response_status
from connectors.kingdee.connection import KingdeeConnection, json_bytes
from connectors.kingdee.errors import KingdeeTransportError
from connectors.kingdee.filters import Filter, check_key

log = logging.getLogger("connectors.kingdee")

EXECUTE_BILL_QUERY = "DynamicFormService.ExecuteBillQuery"
QUERY_BUSINESS_INFO = "DynamicFormService.QueryBusinessInfo"
MAX_QUERY_LIMIT = 10_000
ORDER_BY = re.compile(
    r"^\s*[A-Za-z_][A-Za-z0-9_.]*(\s+(?i:asc|desc))?(\s*,\s*[A-Za-z_][A-Za-z0-9_.]*(\s+(?i:asc|desc))?)*\s*$"
)


def _checked_keys(field_keys: Sequence[str], schema: dict[str, pl.DataType] | None) -> list[str]:
    keys = list(field_keys)
    unknown = set(schema or {}) - set(keys)
    if unknown:
        raise ValueError(f"schema names columns that are not field keys: {sorted(unknown)}")
    return keys


def _fields(node: Any) -> Iterable[dict]:
    """Every field object under any `Fields` list of a QueryBusinessInfo answer, wherever its entity sits."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Fields" and isinstance(value, list):
                yield from (field for field in value if isinstance(field, dict) and isinstance(field.get("Key"), str))
            else:
                yield from _fields(value)
    elif isinstance(node, list):
        for value in node:
            yield from _fields(value)


def _fits(row: Any, width: int) -> bool:
    return isinstance(row, list) and len(row) == width


def _frame(keys: list[str], rows: list[Any], schema: dict[str, pl.DataType] | None) -> pl.DataFrame:
    """ExecuteBillQuery rows as a frame named by the field keys, cast by `schema` where it names a column."""
    if any(not _fits(row, len(keys)) for row in rows):
        raise KingdeeTransportError(f"{EXECUTE_BILL_QUERY}: rows do not match the {len(keys)} field keys")
    if not rows:
        return pl.DataFrame(schema={key: (schema or {}).get(key, pl.Null) for key in keys})
    frame = pl.DataFrame(rows, schema=keys, orient="row", infer_schema_length=None)
    return _apply_schema(frame, schema) if schema else frame


def _apply_schema(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Cast columns; dates arrive as text ('2024-12-04T00:00:00'), which Polars parses but will not cast."""
    columns = []
    for key, dtype in schema.items():
        if frame.schema[key] == pl.String and dtype.is_temporal():
            columns.append(pl.col(key).str.strptime(dtype))
        else:
            columns.append(pl.col(key).cast(dtype))
    return frame.with_columns(columns)


class BillQueries(KingdeeConnection):
    def execute_bill_query(
        self,
        form_id: str,
        field_keys: Sequence[str],
        filter: Filter | str = "",
        order_by: str = "",
        page_size: int | None = None,
        *,
        schema: dict[str, pl.DataType] | None = None,
    ) -> pl.DataFrame:
        """All rows of an ExecuteBillQuery, paged by StartRow/Limit, as a frame named by the field keys.

        Pass a stable `order_by` (e.g. the primary key) when the result may span several pages.
        `schema` casts the named columns; without it the types are inferred from the values.
        """
        keys = _checked_keys(field_keys, schema)
        return _frame(keys, self._query(form_id, keys, filter, order_by, page_size), schema)

    def execute_bill_query_by_number(
        self,
        form_id: str,
        field_keys: Sequence[str],
        numbers: Iterable[str],
        *,
        number_key: str = "FBillNo",
        within: Filter | None = None,
        order_by: str | None = None,
        schema: dict[str, pl.DataType] | None = None,
        chunk_size: int = 500,
    ) -> pl.DataFrame:
        """`execute_bill_query` for the rows whose `number_key` (FBillNo on bills, FNumber on base data) is
        one of `numbers` (and that meet `within`, e.g. one use org), each number asked once, `chunk_size` to
        an IN list so no filter grows without bound. Rows come chunk by chunk, each in `order_by` (by
        default the number)."""
        keys = _checked_keys(field_keys, schema)
        rows = self._rows_by_number(form_id, keys, numbers, number_key, order_by, chunk_size, within)
        return _frame(keys, rows, schema)

    def existing_bill_numbers(self, form_id: str, numbers: Iterable[str], chunk_size: int = 500) -> set[str]:
        """Which of `numbers` already exist as FBillNo on `form_id`: the idempotency check before a save."""
        rows = self._rows_by_number(form_id, ["FBillNo"], numbers, "FBillNo", None, chunk_size)
        return {str(row[0]) for row in rows if _fits(row, 1)}

    def bill_statuses(self, form_id: str, numbers: Iterable[str], chunk_size: int = 500) -> dict[str, str]:
        """FDocumentStatus (Z/A/B/C/D) by FBillNo of those of `numbers` that exist on `form_id`."""
        rows = self._rows_by_number(form_id, ["FBillNo", "FDocumentStatus"], numbers, "FBillNo", None, chunk_size)
        return {str(row[0]): str(row[1]) for row in rows if _fits(row, 2)}

    def query_business_info(self, form_id: str) -> pl.DataFrame:
        """The field keys `form_id` has on this tenant (QueryBusinessInfo, read-only): key, must_input.

        The answer's nesting (entities, sub-heads) is not relied on: every `Fields` entry is taken."""
        check_key(form_id)
        payload = self._call(QUERY_BUSINESS_INFO, json_bytes({"data": {"FormId": form_id}}), write=False)
        status = response_status(payload)
        if status is not None and status.get("IsSuccess") is not True:
            raise business_error(f"{QUERY_BUSINESS_INFO} {form_id}", status, self._scrub)
        fields = [(field["Key"], bool(field.get("MustInput"))) for field in _fields(payload)]
        return pl.DataFrame(fields, schema={"key": pl.String, "must_input": pl.Boolean}, orient="row")

    def _rows_by_number(
        self,
        form_id: str,
        keys: list[str],
        numbers: Iterable[str],
        number_key: str,
        order_by: str | None,
        chunk_size: int,
        within: Filter | None = None,
    ) -> list[Any]:
        """ExecuteBillQuery rows of `keys` whose `number_key` is one of `numbers`, asked in chunks of IN lists."""
        rows: list[Any] = []
        for chunk in chunks(dict.fromkeys(numbers), chunk_size):
            condition = Filter.in_(number_key, chunk) if within is None else within & Filter.in_(number_key, chunk)
            rows.extend(self._query(form_id, keys, condition, order_by or f"{number_key} ASC", None))
        return rows

    def _query(
        self, form_id: str, keys: list[str], filter: Filter | str, order_by: str, page_size: int | None
    ) -> list[Any]:
        check_key(form_id)
        for key in keys:
            check_key(key)
        if not keys or len(set(keys)) != len(keys):
            raise ValueError("field keys must be a non-empty list without duplicates")
        if order_by and not ORDER_BY.match(order_by):
            raise ValueError(f"not an OrderString: {order_by!r}")
        limit = page_size or self.settings.query_page_size
        if not 1 <= limit <= MAX_QUERY_LIMIT:
            raise ValueError(f"page size must be in 1..{MAX_QUERY_LIMIT}")
        what = f"{EXECUTE_BILL_QUERY} {form_id}"
        rows: list[Any] = []
        while True:
            data = {
                "FormId": form_id,
                "FieldKeys": ",".join(keys),
                "FilterString": str(filter),
                "OrderString": order_by,
                "TopRowCount": 0,
                "StartRow": len(rows),
                "Limit": limit,
                "SubSystemId": "",
            }
            payload = self._call(EXECUTE_BILL_QUERY, json_bytes({"data": data}), write=False)
            status = response_status(payload)
            if status is not None:
                raise business_error(what, status, self._scrub)
            if not isinstance(payload, list):
                raise KingdeeTransportError(f"{what}: the answer is not a list of rows")
            rows.extend(payload)
            if len(payload) < limit:
                break
            if not order_by and len(rows) == limit:
                log.warning("%s spans several pages without order_by: paging may skip rows", what)
        log.debug("%s: %d rows", what, len(rows))
        return rows
