"""Benchmarks (`make bench`): each script prints its figures and ends with one `RESULT ...` line."""

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load
