"""Prefect flows: thin orchestration of connectors and transforms."""

import os

# Measured on 2 cores (../shared/spec/PREFECT_NOTES.md): the ephemeral server needs more than the
# default 20 s to start, and offline telemetry only produces errors. Defaults only: the environment wins.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

# Polars' allocator (jemalloc) gives freed pages back to the OS within about a second (Polars sets
# dirty_decay_ms:500), so a flow mapping one group of pages after another faults the same memory in again,
# page by page. Kept 30 s instead: bench/transform.py 15.7-16.6x → 19.3-21.6x, bench/memory.py 929 → 949-1,019
# MiB (bench/RESULTS.md). Polars appends this after its own options, so it wins; jemalloc reads it once, when
# Polars is loaded: it holds only if nothing imported polars before this package.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:30000")
