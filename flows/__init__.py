"""Prefect flows: thin orchestration of connectors and transforms."""

import os

# Measured on 2 cores (../shared/spec/PREFECT_NOTES.md): the ephemeral server needs more than the
# default 20 s to start, and offline telemetry only produces errors. Defaults only: the environment wins.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
