"""The platform's rate limits (per token and path, per second and per minute) and the count of requests a
client has in flight, both shown by the stats endpoint."""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.faults import ADMIN_PREFIX
from sandbox.jushuitan.wire import Rejected


@dataclass
class Traffic:
    """Sliding-window rate limits per (token, path), and what clients did (for the stats endpoint)."""

    per_second: int
    per_minute: int
    calls: Counter[str] = field(default_factory=Counter)
    rejected: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    _admitted: defaultdict[tuple[str, str], deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _seen: defaultdict[tuple[str, str], deque[float]] = field(default_factory=lambda: defaultdict(deque))
    peak_second: Counter[tuple[str, str]] = field(default_factory=Counter)
    peak_minute: Counter[tuple[str, str]] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)  # per path, injected latency included
    peak_in_flight: Counter[str] = field(default_factory=Counter)

    def admit(self, key: tuple[str, str], now: float) -> None:
        """Count the call, then reject it if the last second or minute is already full."""
        seen = self._seen[key]
        seen.append(now)
        _prune(seen, now - 60)
        self.peak_second[key] = max(self.peak_second[key], _count_since(seen, now - 1))
        self.peak_minute[key] = max(self.peak_minute[key], len(seen))
        admitted = self._admitted[key]
        _prune(admitted, now - 60)
        if _count_since(admitted, now - 1) >= self.per_second:
            raise Rejected(199, "调用太频繁，请稍后再试（每秒调用次数超过限制）")
        if len(admitted) >= self.per_minute:
            raise Rejected(200, "调用频次超过限制（每分钟调用次数超过限制）")
        admitted.append(now)


class InFlight:
    """Outermost layer: counts each path's requests being answered at once, injected latency included, so
    the stats show how many requests a client really had in flight."""

    def __init__(self, app: ASGIApp, traffic: Traffic) -> None:
        self.app = app
        self.traffic = traffic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        traffic = self.traffic
        traffic.in_flight[path] += 1
        traffic.peak_in_flight[path] = max(traffic.peak_in_flight[path], traffic.in_flight[path])
        try:
            await self.app(scope, receive, send)
        finally:
            traffic.in_flight[path] -= 1


def _prune(times: deque[float], older_than: float) -> None:
    while times and times[0] <= older_than:
        times.popleft()


def _count_since(times: deque[float], since: float) -> int:
    count = 0
    for moment in reversed(times):
        if moment <= since:
            break
        count += 1
    return count
