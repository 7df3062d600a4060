"""The emulator's HTTP face: the platform endpoints wrapped in the `{code, msg, data}` envelope with
per-path statistics, and `create_app`, the emulator as an ASGI app behind fault injection."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from sandbox.credentials import JST_APP_KEY, JST_APP_SECRET
from sandbox.data import SandboxWorld
from sandbox.faults import FaultMiddleware, Faults
from sandbox.jushuitan.admin import admin_routes
from sandbox.jushuitan.emulator import Emulator
from sandbox.jushuitan.items import upload_items
from sandbox.jushuitan.limits import InFlight
from sandbox.jushuitan.qimen import QIMEN_ROUTER_PATH, qimen_endpoint
from sandbox.jushuitan.queries import LISTS, QUERIES, list_page, query
from sandbox.jushuitan.wire import SUCCESS, Rejected, read_form


def create_app(
    world: SandboxWorld,
    *,
    faults: Faults | None = None,
    calls_per_second: int = 5,
    calls_per_minute: int = 100,
    token_ttl_seconds: int = 30 * 24 * 3600,
    max_upload_items: int = 50,
    clock: Callable[[], float] = time.time,
    app_key: str = JST_APP_KEY,
    app_secret: str = JST_APP_SECRET,
) -> ASGIApp:
    """The Jushuitan emulator serving `world` (which it changes in place), behind fault injection.

    `app_key`/`app_secret` replace the sandbox credentials (secret-leak tests use recognisable ones).
    """
    emulator = Emulator(
        world,
        calls_per_second=calls_per_second,
        calls_per_minute=calls_per_minute,
        token_ttl_seconds=token_ttl_seconds,
        max_upload_items=max_upload_items,
        clock=clock,
        app_key=app_key,
        app_secret=app_secret,
    )
    traffic = emulator.traffic

    def platform(handler: Callable[[str, dict[str, str]], Any]) -> Callable[[Request], Any]:
        """Wrap a handler in the platform's envelope and keep the per-path statistics."""

        async def endpoint(request: Request) -> JSONResponse:
            path = request.url.path
            traffic.calls[path] += 1
            try:
                data = handler(path, await read_form(request))
            except Rejected as rejected:
                traffic.rejected[path][rejected.code] += 1
                return JSONResponse({"code": rejected.code, "msg": rejected.msg, "data": None})
            return JSONResponse({"code": 0, "msg": SUCCESS, "data": data})

        return endpoint

    def business(handler: Callable[[str, dict], Any]) -> Callable[[Request], Any]:
        return platform(lambda path, params: handler(path, emulator.authorize(params, path)))

    routes = [
        Route("/openWeb/auth/getInitToken", platform(lambda _path, p: emulator.tokens.init_token(p)), methods=["POST"]),
        Route(
            "/openWeb/auth/refreshToken",
            platform(lambda _path, p: emulator.tokens.refresh_token(p)),
            methods=["POST"],
        ),
        *(Route(path, business(lambda p, biz: list_page(emulator.world, p, biz)), methods=["POST"]) for path in LISTS),
        *(
            Route(
                path,
                business(lambda p, biz: query(emulator.stores, QUERIES[p], biz, hidden_shops=emulator.hidden_shops(p))),
                methods=["POST"],
            )
            for path in QUERIES
        ),
        Route(
            "/open/jushuitan/itemsku/upload",
            business(lambda _path, biz: upload_items(emulator, biz)),
            methods=["POST"],
        ),
        Route(QIMEN_ROUTER_PATH, qimen_endpoint(emulator), methods=["POST"]),
    ]
    return InFlight(FaultMiddleware(Starlette(routes=[*routes, *admin_routes(emulator)]), faults), traffic)
