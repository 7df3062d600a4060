"""One run of a sync at a time."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from state.settings import SyncSettings


class RunInProgress(RuntimeError):
    """Another run of the same sync holds the lock: this one writes nothing."""


@contextmanager
def run_lock(sync: str, settings: SyncSettings) -> Iterator[None]:
    """An exclusive lock per sync under the state directory. Deployments already refuse overlapping
    runs (concurrency_limit 1, CANCEL_NEW); this also covers the CLI and ad-hoc runs on the same host.
    The OS drops the lock when the process dies, so a killed run never leaves it stuck."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.state_dir / f"{sync}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgress(
                f"another {sync} run is in progress (lock {handle.name}); nothing was written"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
