"""Process settings: environment defaults that only work if set before Prefect or Polars reads them.

Every entry point imports this module first (ruff's isort section order keeps it first, and
tests/test_process_settings.py checks each entry point): the CLI, the flow modules prefect.yaml deploys,
`make serve`, bench/ and the test children. Defaults only: the environment always wins.
"""

import os

# Measured on 2 cores (../shared/spec/PREFECT_NOTES.md): the ephemeral server needs more than the
# default 20 s to start, and offline telemetry only produces errors.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# Polars' allocator (jemalloc) gives freed pages back to the OS within about a second (Polars sets
# dirty_decay_ms:500), so a flow mapping one group of pages after another faults the same memory in again,
# page by page; kept 30 s instead (figures in bench/RESULTS.md). Polars appends this after its own options,
# so it wins; jemalloc reads it once, when Polars is loaded: it holds only if nothing imported polars first.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:30000")
