"""Benchmarks (`make bench`): each script prints its figures and ends with one `RESULT ...` line."""

import flows  # noqa: F401  the flows' process settings, in place before anything loads Polars
