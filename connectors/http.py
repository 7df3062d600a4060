"""What both connectors need from HTTP: jittered back-off, a sliding-window rate limiter and one
retry loop, so each client only decides *which* failures are worth another try."""

from __future__ import annotations

import fcntl
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

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


@dataclass
class RateLimiter:
    """Blocks until a call under `key` fits every (max_calls, window_seconds) limit.

    Sliding windows over the last call times, per key (Jushuitan counts per token and per API).
    Thread-safe: concurrent page fetches share one limiter.
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
                wait = self._wait(calls, now)
                if wait <= 0:
                    calls.append(now)
                    return
            self.sleep(wait)

    def _wait(self, calls: Collection[float], now: float) -> float:
        """How long until one more call fits every limit, given the earlier calls' times (oldest first)."""
        wait = 0.0
        for max_calls, window in self.limits:
            in_window = [t for t in calls if t > now - window]
            if len(in_window) >= max_calls:
                wait = max(wait, in_window[-max_calls] + window - now)
        return wait


@dataclass
class SharedRateLimiter(RateLimiter):
    """RateLimiter whose call times live in a file under an exclusive lock, so every process and thread
    on the host (two workers, a CLI run beside a deployment) counts in one budget per token and API.

    `margin_seconds` widens each window further: a call is counted when it leaves here, the platform counts
    it when it arrives, and two processes' requests can arrive closer together than they left.
    """

    # Wall-clock time: the file outlives processes and reboots, which monotonic clocks do not.
    clock: Callable[[], float] = time.time
    path: Path = field(kw_only=True)
    margin_seconds: float = field(default=0.1, kw_only=True)

    def __post_init__(self) -> None:
        self.limits = tuple((max_calls, window + self.margin_seconds) for max_calls, window in self.limits)

    def acquire(self, key: Hashable) -> None:
        name = "|".join(map(str, key)) if isinstance(key, tuple) else str(key)
        longest = max((window for _, window in self.limits), default=0.0)
        while True:
            with _locked(self.path) as handle:
                now = self.clock()
                # Times ahead of now (a wall clock stepped back) are dropped rather than blocking the budget.
                state = {
                    other: kept
                    for other, times in _read(handle).items()
                    if (kept := [t for t in times if now - longest < t <= now])
                }
                calls = state.get(name, [])
                wait = self._wait(calls, now)
                if wait <= 0:
                    state[name] = [*calls, now]
                    _write(handle, state)
                    return
            self.sleep(wait)


@contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes, even if the process dies
        yield handle


def _read(handle: IO[str]) -> dict[str, list[float]]:
    handle.seek(0)
    try:
        state = json.loads(handle.read() or "{}")
    except ValueError:  # a process killed mid-write: forgetting the last minute's calls is the only cost
        return {}
    return state if isinstance(state, dict) else {}


def _write(handle: IO[str], state: dict[str, list[float]]) -> None:
    handle.seek(0)
    handle.truncate()
    json.dump(state, handle)
    handle.flush()
