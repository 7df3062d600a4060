"""The flows' allocator setting reaches Polars: set by process_settings, which every entry point imports
before Polars is loaded, freed memory is kept for reuse instead of being given back and faulted in again."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Loaded the way a Prefect worker's flow run loads a deployment (prefect.yaml's entrypoint).
LOAD_FLOW = (
    "from prefect.flows import load_flow_from_entrypoint; "
    f"load_flow_from_entrypoint({str(ROOT / 'flows' / 'outbound.py')!r} + ':sync_outbound')"
)
PAGES = 3 * 10_000_000 * 8 // 4096  # the three 80 MB buffers `work` writes

SCRIPT = """
import resource, time
{first}
import polars as pl

def work():
    return (pl.int_range(0, 10_000_000, eager=True).cast(pl.Float64) * 2.0).sum()

work()
time.sleep(3)  # longer than the default takes to give most of it back
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
work()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(first: str) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if key != "_RJEM_MALLOC_CONF"}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(first=first)], env=env, stdout=subprocess.PIPE, text=True
    )


def test_memory_freed_by_polars_is_reused_when_the_flows_are_loaded_first() -> None:
    with_flows, without = page_faults(LOAD_FLOW), page_faults("")
    faults_with_flows, faults_without = (int(run.communicate(timeout=60)[0]) for run in (with_flows, without))
    assert faults_with_flows < 0.05 * PAGES, faults_with_flows
    assert faults_without > 0.2 * PAGES, faults_without  # the default: the test would see a missing setting


def has_main_guard(path: Path) -> bool:
    return any(
        isinstance(node, ast.If) and ast.unparse(node.test) in {"__name__ == '__main__'", "'__main__' == __name__"}
        for node in ast.parse(path.read_text()).body
    )


def entry_points() -> set[Path]:
    """The modules a process starts from: prefect.yaml's deployment entrypoints (a worker's flow run loads
    them by path), the console scripts, every `python -m` module (it has a `__main__` guard), and the
    test session."""
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    paths = {ROOT / deployment["entrypoint"].rpartition(":")[0] for deployment in deployments}
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"].values()
    paths |= {ROOT / (script.partition(":")[0].replace(".", "/") + ".py") for script in scripts}
    for path in ROOT.rglob("*.py"):
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts) and has_main_guard(path):
            paths.add(path)
    return paths | {ROOT / "tests" / "conftest.py"}


def imports_process_settings_first(path: Path) -> bool:
    """The first statement after the docstring and `from __future__` imports is `import process_settings`."""
    body = ast.parse(path.read_text()).body
    for node in body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node is body[0]:
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        return isinstance(node, ast.Import) and [alias.name for alias in node.names] == ["process_settings"]
    return False


def test_every_entry_point_imports_process_settings_first() -> None:
    late = []
    for path in sorted(entry_points()):
        # `python -m bench.e2e` runs bench/__init__.py first: a package's __init__ may stand for its modules.
        packages = [ROOT.joinpath(*path.relative_to(ROOT).parts[:depth], "__init__.py") for depth in (1, 2)]
        if not any(candidate.exists() and imports_process_settings_first(candidate) for candidate in [path, *packages]):
            late.append(str(path.relative_to(ROOT)))
    assert not late, f"these entry points must `import process_settings` before anything else: {late}"
