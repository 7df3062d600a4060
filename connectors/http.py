"""What both connectors need from HTTP: jittered back-off, a sliding-window rate limiter and one
retry loop, so each client only decides *which* failures are worth another try."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

T = TypeVar("T")

# httpcore's DEBUG trace prints raw response headers, Set-Cookie included (a live Kingdee session), so
# a run with DEBUG logging on would leak it. Our connectors log what matters themselves.
logging.getLogger("httpcore").setLevel(logging.INFO)

# Statuses worth retrying: the server or a gateway in front of it is briefly unwell.
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential back-off: delay n is uniform in [0, min(cap, base * 2**n)]."""

    attempts: int = 5
    base_seconds: float = 0.2
    cap_seconds: float = 10.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap_seconds, self.base_seconds * (2**attempt))
        return (rng or random).uniform(ceiling / 2, ceiling)


class RetryableError(Exception):
    """Raised inside a retried call for a failure another attempt may cure: try again after `delay`
    seconds (or back-off). `resend_safe` is False when the request was a write that may have been
    committed: then the cause is raised at once, since sending it again could write it twice."""

    def __init__(self, cause: Exception, delay: float | None = None, *, resend_safe: bool = True) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.delay = delay
        self.resend_safe = resend_safe


def retry(
    call: Callable[[], T],
    backoff: Backoff,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`, retrying while it raises a resend-safe RetryableError; re-raise the cause of one that is
    not, or of the last when out of attempts."""
    for attempt in range(backoff.attempts):
        try:
            return call()
        except RetryableError as exc:
            if not exc.resend_safe or attempt == backoff.attempts - 1:
                raise exc.cause from None
            sleep(exc.delay if exc.delay is not None else backoff.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


class CallLimiter(Protocol):
    """Blocks until one more call under `key` fits the budget it keeps (Jushuitan: per token and API)."""

    def acquire(self, key: Hashable) -> None: ...


@dataclass
class RateLimiter:
    """Blocks until a call under `key` fits every (max_calls, window_seconds) limit, within this process.

    Sliding windows over the last call times, per key (Jushuitan counts per token and per API).
    Thread-safe: concurrent page fetches share one limiter. The budget every process on every host counts in
    is state/budget.py's, on the state database.
    """

    limits: tuple[tuple[int, float], ...]
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _calls: dict[Hashable, deque[float]] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def acquire(self, key: Hashable) -> None:
        longest = max((w for _, w in self.limits), default=0.0)
        while True:
            with self._lock:
                now = self.clock()
                calls = self._calls.setdefault(key, deque())
                while calls and calls[0] <= now - longest:
                    calls.popleft()
                wait = window_wait(self.limits, calls, now)
                if wait <= 0:
                    calls.append(now)
                    return
            self.sleep(wait)


def window_wait(limits: Iterable[tuple[int, float]], calls: Collection[float], now: float) -> float:
    """How long until one more call fits every (max_calls, window_seconds) limit, given the earlier calls'
    times (oldest first)."""
    wait = 0.0
    for max_calls, window in limits:
        in_window = [t for t in calls if t > now - window]
        if len(in_window) >= max_calls:
            wait = max(wait, in_window[-max_calls] + window - now)
    return wait
