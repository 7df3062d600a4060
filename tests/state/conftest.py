"""Every state test runs on SQLite and on PostgreSQL (tests/state/postgres.py), in a state folder of its own."""

from __future__ import annotations

from tests.state.postgres import postgres, state_database, state_settings  # noqa: F401  fixtures for pytest
