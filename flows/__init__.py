"""Prefect flows: thin orchestration of connectors and transforms."""
