"""Transport-level fault injection shared by both emulators.

An ASGI middleware in front of an emulator adds latency, 5xx bursts, slow answers (client time-outs)
and connection resets at seeded random rates. The knobs are set at start or, while running, with
`POST /__admin/faults` (JSON body of the fields below; `GET` returns them). Paths under `/__admin`
are never faulted. Business-level faults (rate-limit codes, expired tokens or sessions, failing
rows) belong to each emulator, which knows its protocol.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import asdict, dataclass, field, fields

ADMIN_PREFIX = "/__admin"


@dataclass
class Faults:
    latency_ms: float = 0.0  # added to every faulted request
    error_5xx_rate: float = 0.0  # answer 503 with an HTML gateway page
    timeout_rate: float = 0.0  # hold the answer for timeout_seconds before answering normally
    timeout_seconds: float = 30.0
    reset_rate: float = 0.0  # start the answer, then drop the connection
    burst_5xx: int = 0  # the next N faulted requests answer 503, then this counts down to 0
    path_prefixes: list[str] = field(default_factory=list)  # empty: every non-admin path
    seed: int = 0

    def update(self, changes: dict) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault knobs: {sorted(unknown)}")
        for name, value in changes.items():
            setattr(self, name, value)


class FaultMiddleware:
    """Pure ASGI middleware; holds the live `Faults` so the admin endpoint can change them."""

    def __init__(self, app, faults: Faults | None = None) -> None:
        self.app = app
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == f"{ADMIN_PREFIX}/faults":
            await self._admin(scope, receive, send)
            return
        if path.startswith(ADMIN_PREFIX) or not self._applies(path):
            await self.app(scope, receive, send)
            return
        f = self.faults
        if f.latency_ms:
            await asyncio.sleep(f.latency_ms / 1000)
        if f.burst_5xx > 0:
            f.burst_5xx -= 1
            await _respond(send, 503, b"<html><body>503 Service Unavailable</body></html>", "text/html")
            return
        roll = self._rng.random()
        if roll < f.error_5xx_rate:
            await _respond(send, 503, b"<html><body>503 Service Unavailable</body></html>", "text/html")
            return
        roll -= f.error_5xx_rate
        if roll < f.reset_rate:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ConnectionResetError("fault injection: connection reset")
        roll -= f.reset_rate
        if roll < f.timeout_rate:
            await asyncio.sleep(f.timeout_seconds)
        await self.app(scope, receive, send)

    def _applies(self, path: str) -> bool:
        prefixes = self.faults.path_prefixes
        return not prefixes or any(path.startswith(p) for p in prefixes)

    async def _admin(self, scope, receive, send) -> None:
        if scope["method"] == "POST":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            try:
                self.faults.update(json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                await _respond(send, 400, json.dumps({"error": str(exc)}).encode(), "application/json")
                return
            self._rng = random.Random(self.faults.seed)
        await _respond(send, 200, json.dumps(asdict(self.faults)).encode(), "application/json")


async def _respond(send, status: int, body: bytes, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
