"""The emulator's admin routes: expire sessions, set save faults and the login answer, read counters, and
list, edit or delete saved bills."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.kingdee.auth import LOGIN_ANSWER_FIELDS
from sandbox.kingdee.forms import BILL_FORMS
from sandbox.kingdee.store import BillStore
from sandbox.kingdee.wire import bill_lines, set_key

if TYPE_CHECKING:
    from sandbox.kingdee.state import Kingdee


def admin_routes(kingdee: Kingdee) -> list[Route]:
    """`/__admin/...`: the knobs and views tests use to set business faults and look behind the sync's back."""

    async def expire_sessions(_request: Request) -> Response:
        return JSONResponse({"expired": kingdee.sessions.expire_all()})

    async def save_faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                kingdee.save_faults.update(json.loads(await request.body() or b"{}"))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(kingdee.save_faults.as_json())

    def stored_bills(request: Request) -> BillStore | None:
        form = BILL_FORMS.get(request.path_params["form"].lower())
        return None if form is None else kingdee.bills[form.form_id]

    async def list_bills(request: Request) -> Response:
        bills = stored_bills(request)
        if bills is None:
            return JSONResponse({"error": "unknown form"}, status_code=404)
        return JSONResponse(list(bills.values()))

    async def edit_bill(request: Request) -> Response:
        """Reconciliation tests change a saved bill behind the sync's back (header keys, or `FEntity` as a
        list of per-line edits, `null` leaving a line alone)."""
        bills, number = stored_bills(request), request.path_params["billno"]
        bill = bills.get(number) if bills is not None else None
        if bills is None or bill is None:
            return JSONResponse({"error": "no such bill"}, status_code=404)
        edits = json.loads(await request.body() or b"{}")
        if not isinstance(edits, dict):
            return JSONResponse({"error": "edits must be a JSON object"}, status_code=400)
        try:
            for key, value in edits.items():
                if key.lower() == "fentity" and isinstance(value, list):
                    for line, line_edits in zip(bill_lines(bill), value, strict=False):
                        for line_key, line_value in (line_edits or {}).items():
                            set_key(line, line_key, line_value)
                else:
                    set_key(bill, key, value)
            set_key(bill, "FModifyDate", kingdee.now())
        finally:  # even a half-applied edit is what queries must now see
            bills.changed(number)
        return JSONResponse(bill)

    async def delete_bill(request: Request) -> Response:
        bills = stored_bills(request)
        if bills is None or bills.pop(request.path_params["billno"]) is None:
            return JSONResponse({"error": "no such bill"}, status_code=404)
        return JSONResponse({"deleted": request.path_params["billno"]})

    async def stats(_request: Request) -> Response:
        return JSONResponse(kingdee.stats())

    async def login_answer(request: Request) -> Response:
        try:
            answer = json.loads(await request.body() or b"{}")
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not set(answer) <= LOGIN_ANSWER_FIELDS:
            return JSONResponse({"error": f"expected an object of {sorted(LOGIN_ANSWER_FIELDS)}"}, status_code=400)
        kingdee.login_answer = answer
        return JSONResponse(answer)

    async def query_row_cap(request: Request) -> Response:
        """`{"rows": n}`: ExecuteBillQuery answers at most n rows a page, whatever Limit asks."""
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("rows"), int) or body["rows"] < 1:
            return JSONResponse({"error": 'expected {"rows": <positive integer>}'}, status_code=400)
        kingdee.query_row_cap = body["rows"]
        return JSONResponse({"rows": kingdee.query_row_cap})

    return [
        Route("/__admin/query_row_cap", query_row_cap, methods=["POST"]),
        Route("/__admin/expire_sessions", expire_sessions, methods=["POST"]),
        Route("/__admin/save_faults", save_faults, methods=["GET", "POST"]),
        Route("/__admin/stats", stats, methods=["GET"]),
        Route("/__admin/login_answer", login_answer, methods=["POST"]),
        Route("/__admin/bills/{form}", list_bills, methods=["GET"]),
        Route("/__admin/bills/{form}/{billno}/delete", delete_bill, methods=["POST"]),
        Route("/__admin/bills/{form}/{billno}", edit_bill, methods=["POST"]),
    ]
