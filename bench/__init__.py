"""Benchmarks (`make bench`): each script prints its figures and ends with one `RESULT ...` line."""
