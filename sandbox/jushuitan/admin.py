"""The emulator's admin routes (JSON, no auth): read stats and items, change limits, skew the clock, expire
tokens, change or add documents, plant one behind a watermark, receive returned goods, pick the item-upload
answer, and send shops' after-sales through the Qimen route only."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.data import JST_TIME, SHANGHAI
from sandbox.jushuitan.emulator import Emulator
from sandbox.jushuitan.items import UPLOAD_ANSWERS

_INVALID = object()  # an admin body that is not JSON at all


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return _INVALID


def _admin_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def admin_routes(emulator: Emulator) -> list[Route]:
    """`/__admin/...`, the routes tests use to change the world and read what clients did."""
    traffic = emulator.traffic

    async def stats(_request: Request) -> JSONResponse:
        return JSONResponse(emulator.stats())

    async def limits(request: Request) -> JSONResponse:
        body = _json_body(await request.body())
        if not isinstance(body, dict) or not all(
            isinstance(body.get(key, 1), int) and body.get(key, 1) >= 1
            for key in ("calls_per_second", "calls_per_minute")
        ):
            return _admin_error(400, "expected {calls_per_second, calls_per_minute} as positive integers")
        traffic.per_second = body.get("calls_per_second", traffic.per_second)
        traffic.per_minute = body.get("calls_per_minute", traffic.per_minute)
        return JSONResponse(emulator.stats()["limits"])

    async def clock(request: Request) -> JSONResponse:
        """`{"offset_seconds": n}`: skew the platform's clock against the host's (the code 180 risk)."""
        body = _json_body(await request.body())
        if not isinstance(body, dict) or not isinstance(body.get("offset_seconds"), int | float):
            return _admin_error(400, 'expected {"offset_seconds": <number>}')
        emulator.clock_offset_seconds = float(body["offset_seconds"])
        return JSONResponse({"offset_seconds": emulator.clock_offset_seconds})

    async def expire_tokens(_request: Request) -> JSONResponse:
        return JSONResponse({"expired": emulator.tokens.expire_all()})

    async def items(_request: Request) -> JSONResponse:
        return JSONResponse(emulator.world.items)

    def updater(kind: str, id_param: str) -> Callable[[Request], Any]:
        async def update(request: Request) -> JSONResponse:
            changes = _json_body(await request.body())
            if not isinstance(changes, dict):
                return _admin_error(400, "expected a JSON object of field changes")
            doc = emulator.update(kind, int(request.path_params[id_param]), changes)
            return JSONResponse(doc) if doc is not None else _admin_error(404, f"no {kind} document")

        return update

    async def receive(request: Request) -> JSONResponse:
        body = _json_body(await request.body()) or {}
        r_qty = body.get("r_qty", {}) if isinstance(body, dict) else None
        if not isinstance(r_qty, dict) or not all(isinstance(q, int) for q in r_qty.values()):
            return _admin_error(400, 'expected {"r_qty": {"<asi_id>": <int>}} or no body')
        refund = emulator.stores["refunds"].get(request.path_params["as_id"])
        if refund is None:
            return _admin_error(404, "no such after-sale")
        if refund.get("good_status") == "SELLER_RECEIVED":
            return _admin_error(409, "after-sale already received")
        record = emulator.receive(refund, {str(k): q for k, q in r_qty.items()})
        return JSONResponse({"refund": refund, "received": record})

    async def upload_answer(request: Request) -> JSONResponse:
        body = _json_body(await request.body())
        if not isinstance(body, dict) or body.get("datas") not in UPLOAD_ANSWERS:
            return _admin_error(400, f'expected {{"datas": one of {list(UPLOAD_ANSWERS)}}}')
        emulator.upload_answer = body["datas"]
        return JSONResponse({"datas": emulator.upload_answer})

    async def plant(request: Request) -> JSONResponse:
        """`{"like": io_id, "days_back": d}`: a copy of outbound document `like` under new io_id and line ids,
        modified d days ago — a document an incremental run past that time never sees (what a sweep is for)."""
        body = _json_body(await request.body())
        days_back = body.get("days_back") if isinstance(body, dict) else None
        if not isinstance(days_back, int | float) or days_back <= 0 or not isinstance(body.get("like"), int):
            return _admin_error(400, 'expected {"like": <io_id>, "days_back": <positive number>}')
        store = emulator.stores["outbound"]
        template = store.get(body["like"])
        if template is None:
            return _admin_error(404, "no outbound document to copy")
        doc = copy.deepcopy(template)
        numbers = [row["io_id"] for row in store.rows if isinstance(row.get("io_id"), int)]
        line_ids = [
            line.get("ioi_id") for row in store.rows for line in row.get("items") or [] if isinstance(line, dict)
        ]
        first_line = max((i for i in line_ids if isinstance(i, int)), default=40_000_000) + 1
        doc["io_id"] = max(numbers) + 1
        for offset, line in enumerate(doc.get("items") or []):
            line["ioi_id"] = first_line + offset
        when = datetime.fromtimestamp(emulator.clock() - days_back * 86_400, SHANGHAI).strftime(JST_TIME)
        doc["created"] = doc["io_date"] = doc["modified"] = when
        emulator.inject("outbound", [doc])
        return JSONResponse(doc)

    async def after_sales_routes(request: Request) -> JSONResponse:
        """`{"qimen_only": [shop_id, …]}`: those shops' after-sales come only through the Qimen route."""
        body = _json_body(await request.body())
        shops = body.get("qimen_only") if isinstance(body, dict) else None
        if not isinstance(shops, list) or not all(isinstance(shop, int) for shop in shops):
            return _admin_error(400, 'expected {"qimen_only": [<shop_id>, …]}')
        emulator.qimen_only_shops = frozenset(map(str, shops))
        return JSONResponse({"qimen_only": sorted(map(int, emulator.qimen_only_shops))})

    async def records(request: Request) -> JSONResponse:
        kind = request.path_params["kind"]
        if kind not in emulator.stores:
            return _admin_error(404, "kind must be outbound, refunds or received")
        body = _json_body(await request.body())
        if not isinstance(body, list) or not all(isinstance(record, dict) for record in body):
            return _admin_error(400, "expected a JSON list of documents")
        return JSONResponse({"ts": emulator.inject(kind, body)})

    return [
        Route("/__admin/stats", stats, methods=["GET"]),
        Route("/__admin/limits", limits, methods=["POST"]),
        Route("/__admin/clock", clock, methods=["POST"]),
        Route("/__admin/expire_tokens", expire_tokens, methods=["POST"]),
        Route("/__admin/items", items, methods=["GET"]),
        Route("/__admin/outbound/plant", plant, methods=["POST"]),
        Route("/__admin/outbound/{io_id:int}", updater("outbound", "io_id"), methods=["POST"]),
        Route("/__admin/refunds/{as_id:int}", updater("refunds", "as_id"), methods=["POST"]),
        Route("/__admin/refunds/{as_id:int}/receive", receive, methods=["POST"]),
        Route("/__admin/records/{kind}", records, methods=["POST"]),
        Route("/__admin/upload_answer", upload_answer, methods=["POST"]),
        Route("/__admin/after_sales_routes", after_sales_routes, methods=["POST"]),
    ]
