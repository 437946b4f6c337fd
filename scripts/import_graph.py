"""The project's module import graph, read from the source (no module is imported), and its layers.

    .venv/bin/python -m scripts.import_graph     # print the cycles and layer violations, if any

Which imports count: every ``import``/``from ... import`` statement, at module level *and* inside
functions, except under ``if TYPE_CHECKING:``. A function-local import still makes the module
depend on the other at run time (the first call imports it); it is also the usual way a cycle is
hidden rather than broken, so it counts. ``TYPE_CHECKING`` blocks never run: they are type
annotations, not dependencies. Dynamic imports (``importlib.import_module``) are not seen.

An import edge goes to the module named: ``from a.b import c`` to ``a.b.c`` when that is a
module, else to the package ``a.b``. The parent packages Python imports first are not edges of
their own: a package is always in ``sys.modules`` before its submodules run, so a submodule
importing its parent's ``__init__`` cannot deadlock the import.
"""

from __future__ import annotations

import ast
import graphlib
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from data_engineering.src.paths import REPO_ROOT

# The project's top-level packages: the modules the graph is drawn over.
PACKAGES = ("api", "data_engineering", "data_science", "streamlit_apps", "scripts", "infra")

# Which package may import which (besides itself): the layers, read from the code. Data
# engineering (the booking spec, validator, vocabulary, transformations and paths) is the core at
# the bottom; data science builds the model on it; the API serves the model; the dashboards use
# the API's pieces; the scripts (benchmarks, tables, checks) sit on top; the infrastructure (the
# DAG, the launchers) runs the others as commands and imports none of them. Nothing imports the
# scripts or the infrastructure.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "data_engineering": frozenset(),
    "data_science": frozenset({"data_engineering"}),
    "api": frozenset({"data_engineering", "data_science"}),
    "streamlit_apps": frozenset({"data_engineering", "data_science", "api"}),
    "scripts": frozenset({"data_engineering", "data_science", "api"}),
    "infra": frozenset({"data_engineering"}),  # launch.py: ports, environment, settings base
}

TABLE_HEADER = "| package | may import (besides itself) |"


def is_test_file(relative: Path) -> bool:
    """Tests are not part of the layers: they may reach across them to check the whole."""
    return "tests" in relative.parts or relative.name.startswith("test_") or relative.name == "conftest.py"


def module_files(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Module name -> source file of every non-test module under the packages."""
    modules: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if ".venv" in relative.parts or is_test_file(relative):
                continue
            parts = relative.with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def is_type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement below ``node``, at any depth, outside ``TYPE_CHECKING`` blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and is_type_checking(child.test):
            for other in child.orelse:  # the `else:` of TYPE_CHECKING does run
                yield from import_nodes(ast.Module(body=[other], type_ignores=[]))
        else:
            yield from import_nodes(child)


def imported_names(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The dotted names a statement imports: each candidate is a module or a package's attribute."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        # A relative import counts from the module's package (the module itself for __init__).
        anchor = module.split(".")[: len(module.split(".")) - (0 if is_package else 1)]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    for alias in node.names:
        yield f"{base}.{alias.name}"  # a submodule when one has that name, else an attribute of base


def resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    """The project module a dotted name lands in: itself, or the nearest enclosing module."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def module_graph(root: Path = REPO_ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the project modules it imports (itself excluded)."""
    modules = module_files(root, packages)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        targets = {
            resolve(name, modules)
            for node in import_nodes(tree)
            for name in imported_names(module, is_package, node)
        }
        graph[module] = {target for target in targets if target is not None and target != module}
    return graph


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]`` (each imports the next), or None when there is none."""
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        # graphlib lists the cycle against the edges (each node is a dependency of the one before).
        return list(reversed(error.args[1]))
    return None


def package_of(module: str) -> str:
    return module.partition(".")[0]


def layer_violations(
    graph: Mapping[str, Iterable[str]], may_import: Mapping[str, frozenset[str]] = MAY_IMPORT
) -> list[tuple[str, str]]:
    """(importer, imported) pairs that cross the layers the table does not allow, sorted."""
    return sorted(
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if package_of(target) != package_of(module)
        and package_of(target) not in may_import.get(package_of(module), frozenset())
    )


def layers_table(may_import: Mapping[str, frozenset[str]] = MAY_IMPORT) -> str:
    """The table as README.md shows it, one row per package in the table's order."""
    rows = [TABLE_HEADER, "|---|---|"]
    order = list(may_import)
    for package, allowed in may_import.items():
        names = ", ".join(f"`{name}`" for name in sorted(allowed, key=order.index)) or "nothing"
        rows.append(f"| `{package}` | {names} |")
    return "\n".join(rows)


def main() -> int:
    graph = module_graph()
    cycle = find_cycle(graph)
    violations = layer_violations(graph)
    if cycle:
        print("import cycle: " + " -> ".join(cycle))
    for module, target in violations:
        print(f"layer violation: {module} imports {target}")
    if not cycle and not violations:
        print(f"{len(graph)} modules: no import cycle, every import within the layers")
    return 1 if cycle or violations else 0


if __name__ == "__main__":
    sys.exit(main())
