"""`jst-kingdee` as a child process for crash tests: `python -m tests.reliability.child sync outbound`.

With CRASH_PAUSE_AT=module:function the child touches CRASH_PAUSE_MARK and sleeps just before that
function runs, so the parent can SIGKILL it at exactly that point (e.g. before the watermark is saved).
Nothing else changes: the command line is the real typer app.
"""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

import importlib
import os
import sys
import time
from pathlib import Path


def _pause_before(target: str, mark: Path) -> None:
    """`target` is "module:name" or "module:Class.method"."""
    module_name, _, path = target.partition(":")
    *owners, name = path.split(".")
    owner = importlib.import_module(module_name)
    for attribute in owners:
        owner = getattr(owner, attribute)
    real = getattr(owner, name)

    def paused(*args, **kwargs):
        mark.touch()
        time.sleep(600)  # the parent kills us here
        return real(*args, **kwargs)

    setattr(owner, name, paused)


def main() -> None:
    target = os.environ.get("CRASH_PAUSE_AT", "")
    if target:
        _pause_before(target, Path(os.environ["CRASH_PAUSE_MARK"]))
    from cli import app

    app(sys.argv[1:], prog_name="jst-kingdee")


if __name__ == "__main__":
    main()
