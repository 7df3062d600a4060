"""The Kingdee K3Cloud WebAPI client: one class over one connection, each kind of call in its module.

It knows the protocol, not the business: paging, the three error shapes, sessions, retries, and the
rule that a write is never resent when it may already have been committed (connection.py).
"""

from __future__ import annotations

from connectors.kingdee.operations import BillOperations
from connectors.kingdee.queries import BillQueries
from connectors.kingdee.saving import BillSaving


class KingdeeClient(BillQueries, BillSaving, BillOperations):
    """A thread-safe client for one Kingdee account; use as a context manager or call `close()`.

    Queries (queries.py), BatchSave (saving.py) and Submit/Audit (operations.py) share its one HTTP
    client and session (connection.py)."""
