"""The Jushuitan call budget every process on every host counts in: the times of the calls per token and API
live in the state database, so two workers on two hosts (or a CLI run beside a deployment) stay within the
platform's 5/s and 100/min together.

Each acquisition is one short transaction that holds a lock on its key (a PostgreSQL advisory lock; on
SQLite the write lock): it reads the key's calls of the last minute, and either records the new call or
learns how long to wait. Times come from the database's clock, never the host's, so hosts whose clocks
disagree still count in one timeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

from sqlalchemy import Connection, Engine, text

from connectors.http import window_wait
from state.database import reached, take_turns

# The database's clock in seconds since the epoch. PostgreSQL: clock_timestamp(), the time now (now() is
# the transaction's start, before the wait for the lock). SQLite: its 'now', to the millisecond.
_NOW = {
    "postgresql": "SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8",
    "sqlite": "SELECT (julianday('now') - 2440587.5) * 86400.0",
}


class DatabaseRateLimiter:
    """A `connectors.http.CallLimiter` whose sliding windows are counted in the `jushuitan_calls` table.

    `margin_seconds` widens every window: a call is counted when its turn is taken here, the platform counts
    it when it arrives, and two hosts' requests can arrive closer together than they took their turns.
    """

    def __init__(
        self,
        engine: Engine,
        limits: tuple[tuple[int, float], ...],
        *,
        margin_seconds: float = 0.1,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._engine = engine
        self._limits = tuple((max_calls, window + margin_seconds) for max_calls, window in limits)
        self._longest = max((window for _, window in self._limits), default=0.0)
        self._now = text(_NOW[engine.dialect.name])
        self._sleep = sleep

    def acquire(self, key: Hashable) -> None:
        budget = "|".join(map(str, key)) if isinstance(key, tuple) else str(key)
        while True:
            with reached(self._engine) as connection, connection.begin():
                wait = self._take_turn(connection, budget)
            if wait <= 0:
                return
            self._sleep(wait)

    def _take_turn(self, connection: Connection, budget: str) -> float:
        """Record a call under `budget` and return 0 when it fits, else how long until one would."""
        take_turns(connection, f"jushuitan-budget:{budget}")
        now = connection.execute(self._now).scalar_one()
        # Calls older than every window are pruned; so are times ahead of now (written before the database's
        # clock was stepped back), which would otherwise block the budget.
        connection.execute(
            text("DELETE FROM jushuitan_calls WHERE budget = :budget AND (called_at <= :oldest OR called_at > :now)"),
            {"budget": budget, "oldest": now - self._longest, "now": now},
        )
        calls = connection.execute(
            text("SELECT called_at FROM jushuitan_calls WHERE budget = :budget ORDER BY called_at"),
            {"budget": budget},
        ).scalars()
        wait = window_wait(self._limits, list(calls), now)
        if wait <= 0:
            connection.execute(
                text("INSERT INTO jushuitan_calls (budget, called_at) VALUES (:budget, :now)"),
                {"budget": budget, "now": now},
            )
        return wait
