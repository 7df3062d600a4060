"""Imports point down only: a lower folder never imports a higher one, so the layers are kept by the suite
rather than by memory. Every import counts, at module level or inside a function, relative or absolute."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Layer:
    promise: str
    never_imports: tuple[str, ...]  # module names; "a" also forbids "a.b"


# The folders above the libraries and the state; none of them is imported from below.
HIGHER = ("reporting", "deploy", "flows", "cli", "bench")
PRODUCT = ("process_settings", "basics", "connectors", "transforms", "state", "sandbox", *HIGHER)

# One row per top-level folder (or module) of the product, lowest first. A folder named here that does not
# exist yet is simply not walked; a folder that exists but has no row fails the suite until it gets one.
LAYERS: dict[str, Layer] = {
    "process_settings": Layer(
        "environment defaults that must be set before Prefect or Polars load",
        (*PRODUCT, "prefect", "polars", "pandera", "httpx"),
    ),
    "sandbox": Layer(
        "emulators of both APIs written from the spec, so they cannot agree with a wrong client",
        PRODUCT,
    ),
    "basics": Layer(
        "helpers below every layer (one chunker, Asia/Shanghai time) that know neither system nor the business",
        tuple(name for name in PRODUCT if name != "basics"),
    ),
    "connectors": Layer(
        "clients of Jushuitan and Kingdee: signing, paging, limits, errors", (*HIGHER, "transforms", "state")
    ),
    "transforms": Layer("pure DataFrame-in, DataFrame-out rules of the scheme", (*HIGHER, "state", "prefect", "httpx")),
    "state": Layer("a run's durable state: watermarks, run lock, held ledger, token store, tables", HIGHER),
    "reporting": Layer("report files, markdown artifacts, the three reports", ("flows", "deploy", "cli", "bench")),
    # Below flows: the flows read their credentials and token store from the blocks deploy/ registers, and
    # deploy/ needs nothing of the flows (serve starts them by command line, alerts name them as text).
    "deploy": Layer("blocks, alerts, the process supervisor", ("flows", "cli", "bench")),
    "flows": Layer("the Prefect flows and their tasks", ("cli", "bench")),
    "cli": Layer("the typer app: parses, calls flows, prints", ("bench",)),
    "bench": Layer("benchmarks, each ending with one RESULT line", ()),
}


def top_level_names() -> set[str]:
    """Every top-level package and module of the product (tests/ and hidden folders are not product)."""
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py") if path.parent.name != "tests"}
    modules = {path.stem for path in ROOT.glob("*.py")}
    return packages | modules


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, name: str, is_package: bool = False) -> Iterator[tuple[int, str, str]]:
    """(line, module imported, the statement as written) for every import anywhere in `source`, with
    relative imports resolved against `name`, and importlib.import_module("...") / __import__("...")
    of a literal name."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            written = "." * node.level + (node.module or "")
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                # `from a import b` may import the module a.b: both are checked.
                module = f"{target}.{alias.name}" if target else alias.name
                yield node.lineno, module, f"from {written} import {alias.name}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value, ast.unparse(node)


def forbidden_by(layer: str, module: str) -> str | None:
    for name in LAYERS[layer].never_imports:
        if name != layer and (module == name or module.startswith(f"{name}.")):
            return name
    return None


def product_files() -> Iterator[tuple[str, Path]]:
    for top in sorted(top_level_names() & LAYERS.keys()):
        folder = ROOT / top
        for path in sorted(folder.rglob("*.py")) if folder.is_dir() else [ROOT / f"{top}.py"]:
            yield top, path


def test_every_top_level_folder_of_the_product_has_a_row_in_the_layer_table() -> None:
    missing = sorted(top_level_names() - LAYERS.keys())
    assert not missing, f"add a row to LAYERS in {Path(__file__).name} for: {', '.join(missing)}"


def test_no_folder_imports_one_above_it() -> None:
    violations = []
    walked = set()
    for layer, path in product_files():
        walked.add(layer)
        name = module_name(path)
        for line, module, statement in imported_modules(path.read_text(), name, path.name == "__init__.py"):
            if forbidden := forbidden_by(layer, module):
                violations.append(
                    f"{path.relative_to(ROOT)}:{line}: `{statement}` — {layer}/ never imports {forbidden} "
                    f"({layer}: {LAYERS[layer].promise})"
                )
    assert walked == top_level_names() & LAYERS.keys()  # every folder of the product was read
    assert not violations, "imports pointing up:\n" + "\n".join(violations)


def test_the_walk_sees_imports_inside_functions_relative_and_by_name() -> None:
    source = """
import polars
def late():
    from ..flows import outbound
    import importlib
    importlib.import_module("flows.cli")
class Lazy:
    def method(self):
        from .frames import x
"""
    found = {(line, module) for line, module, _ in imported_modules(source, "transforms.deep.module")}
    assert found >= {(2, "polars"), (4, "transforms.flows.outbound"), (6, "flows.cli"), (9, "transforms.deep.frames.x")}
    found = {module for _, module, _ in imported_modules("from . import frames", "transforms", is_package=True)}
    assert found == {"transforms.frames"}
