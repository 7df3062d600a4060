"""Transport-level fault injection shared by both emulators.

An ASGI middleware in front of an emulator adds latency, 5xx bursts, slow answers (client time-outs)
and connection resets at seeded random rates, and can spoil the next answers' bodies (cut short, or
replaced by a gateway page or a business error) the way a flaky proxy or platform does. The knobs
are set at start or, while running, with `POST /__admin/faults` (JSON body of the fields below;
`GET` returns them, and `fired`: how many of each fault were injected so far). Paths under `/__admin`
are never faulted. Business-level faults (rate-limit codes, expired tokens or sessions, failing rows)
belong to each emulator, which knows its protocol.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
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
    truncate_next: int = 0  # the next N faulted answers lose the second half of their body (HTTP 200)
    replace_next: list[str] = field(default_factory=list)  # the next answers: these bodies, HTTP 200, in order
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
        self.fired: Counter[str] = Counter()

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
            self.fired["burst_5xx"] += 1
            await _respond(send, 503, b"<html><body>503 Service Unavailable</body></html>", "text/html")
            return
        if f.replace_next:
            body = f.replace_next.pop(0).encode()
            self.fired["replace"] += 1
            await _respond(send, 200, body, "application/json" if body.startswith(b"{") else "text/html")
            return
        if f.truncate_next > 0:
            f.truncate_next -= 1
            self.fired["truncate"] += 1
            await self.app(scope, receive, _Truncating(send))
            return
        roll = self._rng.random()
        if roll < f.error_5xx_rate:
            self.fired["error_5xx"] += 1
            await _respond(send, 503, b"<html><body>503 Service Unavailable</body></html>", "text/html")
            return
        roll -= f.error_5xx_rate
        if roll < f.reset_rate:
            self.fired["reset"] += 1
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ConnectionResetError("fault injection: connection reset")
        roll -= f.reset_rate
        if roll < f.timeout_rate:
            self.fired["timeout"] += 1
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
        state = {**asdict(self.faults), "fired": dict(self.fired)}
        await _respond(send, 200, json.dumps(state).encode(), "application/json")


class _Truncating:
    """An ASGI `send` that buffers the answer, then sends its first half with a matching length."""

    def __init__(self, send) -> None:
        self._send = send
        self._start: dict = {}
        self._body = b""

    async def __call__(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            self._start = message
            return
        self._body += message.get("body", b"")
        if message.get("more_body"):
            return
        cut = self._body[: len(self._body) // 2]
        headers = [(k, v) for k, v in self._start.get("headers", []) if k.lower() != b"content-length"]
        await self._send({**self._start, "headers": [*headers, (b"content-length", str(len(cut)).encode())]})
        await self._send({"type": "http.response.body", "body": cut})


async def _respond(send, status: int, body: bytes, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
