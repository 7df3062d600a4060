"""How Kingdee answers (KINGDEE_API.md): a ResponseStatus in one of three envelope shapes, its row errors,
and the per-bill outcomes of a batch call. Pure functions over decoded JSON; `scrub` cleans server text."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.kingdee.errors import KingdeeBusinessError, KingdeeTransportError, RowError

Scrub = Callable[[str], str]


def response_status(payload: Any) -> dict[str, Any] | None:
    """The ResponseStatus inside any of Kingdee's three envelope shapes, or None for plain data.

    Shapes: `{"Result": {"ResponseStatus": ...}}` (operations), `[[{"Result": ...}]]` (query errors),
    and a bare `{"ResponseStatus": ...}` or status object.
    """
    while isinstance(payload, list) and payload and isinstance(payload[0], list | dict):
        head = payload[0]
        if isinstance(head, dict) and "Result" not in head:
            return None  # a row of objects, not an envelope
        payload = head
    if not isinstance(payload, dict):
        return None
    result = payload.get("Result")
    if isinstance(result, dict) and isinstance(result.get("ResponseStatus"), dict):
        return result["ResponseStatus"]
    if isinstance(payload.get("ResponseStatus"), dict):
        return payload["ResponseStatus"]
    if "IsSuccess" in payload:
        return payload
    return None


def row_errors(status: dict[str, Any]) -> list[RowError]:
    errors = []
    for entry in status.get("Errors") or []:
        if isinstance(entry, dict):
            dindex = entry.get("DIndex")
            errors.append(
                RowError(
                    field_name=entry.get("FieldName") or None,
                    message=str(entry.get("Message") or ""),
                    dindex=dindex if isinstance(dindex, int) else None,
                )
            )
    return errors


def failure_code(payload: Any) -> int | None:
    """MsgCode of a failed call (None when the call succeeded or carries plain data)."""
    status = response_status(payload)
    if status is None or status.get("IsSuccess") is True:
        return None
    code = status.get("MsgCode")
    return code if isinstance(code, int) else None


def _describe(error: RowError) -> str:
    return f"{error.field_name}: {error.message}" if error.field_name else error.message


def business_error(what: str, status: dict[str, Any], scrub: Scrub) -> KingdeeBusinessError:
    errors = row_errors(status)
    code = status.get("MsgCode")
    detail = "; ".join(_describe(e) for e in errors[:5]) or "no message"
    return KingdeeBusinessError(
        f"{what} failed (MsgCode {code}): {scrub(detail)}",
        msg_code=code if isinstance(code, int) else None,
        errors=errors,
    )


@dataclass(frozen=True)
class Outcome:
    ok: bool
    entity: dict[str, Any]
    errors: list[str]


def batch_outcomes(what: str, payload: Any, keys: Sequence[str | None], scrub: Scrub) -> list[Outcome]:
    """Per-position outcomes of a batch call, from SuccessEntitys and Errors (read both always).

    Entities and errors are placed by DIndex; an entity without one by its Number. Errors that
    name no position go to every failed position that has none of its own.
    """
    status = response_status(payload)
    if status is None:
        raise KingdeeTransportError(f"{what}: the answer has no ResponseStatus", maybe_committed=True)
    successes: dict[int, dict[str, Any]] = {}
    for entity in status.get("SuccessEntitys") or []:
        if not isinstance(entity, dict):
            continue
        dindex = entity.get("DIndex")
        if isinstance(dindex, int) and 0 <= dindex < len(keys):
            successes[dindex] = entity
        elif entity.get("Number") in keys:
            successes[keys.index(entity["Number"])] = entity
    placed: dict[int, list[str]] = defaultdict(list)
    unplaced: list[str] = []
    for error in row_errors(status):
        text = scrub(_describe(error))
        if error.dindex is not None and 0 <= error.dindex < len(keys):
            placed[error.dindex].append(text)
        else:
            unplaced.append(text)
    whole_call_ok = status.get("IsSuccess") is True
    outcomes = []
    for i in range(len(keys)):
        if i in successes:
            outcomes.append(Outcome(True, successes[i], placed.get(i, [])))
        elif placed.get(i):
            outcomes.append(Outcome(False, {}, placed[i]))
        elif whole_call_ok and not unplaced:
            outcomes.append(Outcome(True, {}, []))
        else:
            outcomes.append(Outcome(False, {}, unplaced or ["no result reported for this bill: check by FBillNo"]))
    return outcomes
