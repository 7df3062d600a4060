"""SharedRateLimiter: two limiters that share only their file count each other's calls."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.http import SharedRateLimiter


def test_shared_limiters_count_each_others_calls_per_key(tmp_path: Path) -> None:
    now, sleeps = [1000.0], []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    def limiter() -> SharedRateLimiter:  # as in two processes: nothing shared but the file
        return SharedRateLimiter(
            limits=((2, 1.0), (3, 60.0)),
            clock=lambda: now[0],
            sleep=sleep,
            path=tmp_path / "limits.json",
            margin_seconds=0.1,
        )

    first, second = limiter(), limiter()
    first.acquire(("token", "/a"))
    second.acquire(("token", "/a"))
    second.acquire(("token", "/b"))  # another API has its own budget
    assert sleeps == []
    first.acquire(("token", "/a"))  # the second's call counts: the second is full
    assert sleeps == [pytest.approx(1.1)]
    second.acquire(("token", "/a"))  # and the minute (3) is full until the first call is 60.1 s old
    assert sleeps[1] == pytest.approx(1060.1 - 1001.1)


def test_shared_limiter_survives_a_file_cut_mid_write_and_a_clock_stepped_back(tmp_path: Path) -> None:
    path = tmp_path / "limits.json"
    now = [1000.0]
    limiter = SharedRateLimiter(limits=((1, 1.0),), clock=lambda: now[0], sleep=pytest.fail, path=path)
    path.write_text('{"token|/a": [999.9')  # a process killed while writing
    limiter.acquire(("token", "/a"))
    path.write_text('{"token|/a": [5000.0]}')  # written before the wall clock was stepped back
    now[0] = 1002.0
    limiter.acquire(("token", "/a"))
