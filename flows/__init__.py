"""Prefect flows: thin orchestration of connectors and transforms.

Process settings (Prefect defaults, Polars' allocator) are not set here but in process_settings.py, which
each entry point imports first.
"""
