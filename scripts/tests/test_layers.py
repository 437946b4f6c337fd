"""The layers as a contract: no import cycle between the project's modules, and each package
imports only the packages beneath it (``scripts.import_graph.MAY_IMPORT``, README's table)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from data_engineering.src.paths import REPO_ROOT
from scripts import import_graph
from scripts.import_graph import MAY_IMPORT, PACKAGES, find_cycle, layer_violations, module_graph


def write_package(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_the_project_has_no_import_cycle() -> None:
    graph = module_graph()
    # The walk found the project (not an empty folder that would pass vacuously): every package,
    # and the edges that are known to exist.
    assert {import_graph.package_of(module) for module in graph} == set(PACKAGES)
    assert "data_engineering.src.settings" in graph["data_engineering.src.paths"]
    assert "data_science.spark_batch" in graph["data_science.predict_batch"]  # a function-local import
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_each_package_imports_only_the_layers_beneath_it() -> None:
    violations = layer_violations(module_graph())
    assert not violations, "\n".join(f"{module} imports {target}" for module, target in violations)


def test_a_planted_cycle_is_named(tmp_path: Path) -> None:
    """A cycle through a function-local import counts; one through ``TYPE_CHECKING`` does not."""
    write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import thing\n",
            "pkg/b.py": """
                from typing import TYPE_CHECKING

                if TYPE_CHECKING:
                    from pkg.d import Hint

                def thing():
                    from . import c
                    return c
            """,
            "pkg/c.py": "import pkg.a\n",
            "pkg/d.py": "from pkg import b\n",
            "pkg/tests/test_a.py": "import pkg.a\n",
        },
    )
    graph = module_graph(tmp_path, ["pkg"])
    assert graph["pkg.b"] == {"pkg.c"}  # the relative import resolved; the TYPE_CHECKING one left out
    assert "pkg.tests.test_a" not in graph
    cycle = find_cycle(graph)
    assert cycle is not None
    # Named in import order, whichever module it starts from: a imports b, b imports c, c imports a.
    start = cycle.index("pkg.a")
    assert cycle[start:-1] + cycle[:start] == ["pkg.a", "pkg.b", "pkg.c"]
    assert cycle[0] == cycle[-1]


def test_breaking_the_planted_cycle_clears_it(tmp_path: Path) -> None:
    write_package(
        tmp_path,
        {"pkg/__init__.py": "", "pkg/a.py": "from pkg.b import thing\n", "pkg/b.py": "thing = 1\n"},
    )
    assert find_cycle(module_graph(tmp_path, ["pkg"])) is None


def test_an_import_across_the_layers_is_named(tmp_path: Path) -> None:
    write_package(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/core.py": "def helper():\n    from high.app import run\n",
            "high/__init__.py": "",
            "high/app.py": "from low import core\nrun = core\n",
        },
    )
    graph = module_graph(tmp_path, ["low", "high"])
    layers = {"low": frozenset(), "high": frozenset({"low"})}
    assert layer_violations(graph, layers) == [("low.core", "high.app")]


def test_readme_shows_the_table_the_test_enforces() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = import_graph.layers_table()
    assert table in readme, (
        f"README.md's layers table differs from scripts.import_graph.MAY_IMPORT; it is:\n{table}"
    )
    # Every package the graph covers has its row, so a new package cannot slip past the table.
    assert set(MAY_IMPORT) == set(PACKAGES)
