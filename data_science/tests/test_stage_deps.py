"""dvc.yaml's stages: each lists, as ``deps``, every project module its command imports, and no other.

DVC reruns a stage only when a dep changed; a module the stage imports but does not list would
let a code change pass without a rerun. The imports are followed transitively from the stage's
``python -m MODULE`` through the source (AST), lazy imports inside functions included, imports
only for type checkers excluded. A directory in ``deps`` covers every file under it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from data_engineering.src.dvc_stages import DVC_FILE, Stage, read_stages, stage_names

ROOT = DVC_FILE.parent
PACKAGES = ("data_engineering", "data_science", "api", "streamlit_apps", "scripts")


def module_file(name: str) -> Path | None:
    """The source file of project module ``name`` (a package's ``__init__.py``), if it is one."""
    if name.split(".", maxsplit=1)[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _runtime_nodes(tree: ast.Module) -> list[ast.AST]:
    """The nodes that may run when a stage uses the module: everything but the bodies of
    ``if TYPE_CHECKING:``. Function bodies count: a function-local import runs when the function
    does (a module's command line lives in a module of its own, e.g. ``estimate_command``, so a
    stage importing an estimator does not depend on the command's imports)."""
    nodes: list[ast.AST] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test).endswith("TYPE_CHECKING"):
                pending.extend(child.orelse)
            else:
                pending.append(child)
    return nodes


def imported(path: Path, name: str) -> set[str]:
    """The project modules that importing module ``name`` (at ``path``) imports itself: parent
    packages included, since importing ``a.b`` runs ``a/__init__.py`` first."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # ``from . import x`` in package a.b is a.b; each further dot goes one package up.
            parts = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join([*parts, *([node.module] if node.module else [])])
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)  # submodules imported by name
    parents = {
        ".".join(part.split(".")[:k]) for part in names | {name} for k in range(1, part.count(".") + 1)
    }
    return {found for found in names | parents if module_file(found) is not None}


def stage_modules(stage: Stage) -> set[Path]:
    """Every project source file the stage's command runs."""
    seen: dict[str, Path] = {}
    pending = [stage.module]
    while pending:
        name = pending.pop()
        path = module_file(name)
        if path is None or name in seen:
            continue
        seen[name] = path
        pending.extend(imported(path, name))
    return set(seen.values())


def covered(path: Path, deps: tuple[str, ...]) -> bool:
    relative = path.relative_to(ROOT)
    return any(relative == Path(dep) or Path(dep) in relative.parents for dep in deps)


@pytest.mark.parametrize("stage", read_stages(), ids=lambda stage: stage.name)
def test_each_stage_lists_every_module_it_imports(stage: Stage) -> None:
    modules = stage_modules(stage)
    assert module_file(stage.module) in modules
    missing = sorted(str(path.relative_to(ROOT)) for path in modules if not covered(path, stage.deps))
    assert missing == [], f"dvc.yaml: stage {stage.name} imports these but its deps omit them"
    # And no module it never imports: a change there would rerun the stage for nothing.
    idle = [dep for dep in stage.deps if dep.endswith(".py") and ROOT / dep not in modules]
    assert idle == [], f"dvc.yaml: stage {stage.name} lists modules it does not import"


def test_the_walk_follows_lazy_and_package_imports_but_not_type_checking_ones(tmp_path: Path) -> None:
    """A function-level import counts, a TYPE_CHECKING one does not, and every parent package's
    __init__ runs; and registration is no stage's import."""
    module = tmp_path / "planted.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from data_science.register import main\n"
        "def later():\n"
        "    from data_science.tracking import open_store\n"
    )
    found = imported(module, "data_science.planted")
    assert found == {"data_science", "data_science.tracking"}
    evaluate = next(stage for stage in read_stages() if stage.name == "evaluate")
    walked = {str(path.relative_to(ROOT)) for path in stage_modules(evaluate)}
    assert {"data_science/__init__.py", "data_engineering/__init__.py"} <= walked
    assert "data_science/register.py" not in walked  # registration is its own step


def test_the_walk_flags_a_missing_dep() -> None:
    """A stage whose deps omit one of its imports fails the check (the test is not vacuous)."""
    train = next(stage for stage in read_stages() if stage.name == "train")
    trimmed = Stage(train.name, train.cmd, tuple(dep for dep in train.deps if dep != "data_science/model.py"))
    modules = stage_modules(trimmed)
    assert [path for path in modules if not covered(path, trimmed.deps)] == [
        ROOT / "data_science" / "model.py"
    ]


def test_the_stage_list_is_dvc_yaml_in_its_order() -> None:
    assert stage_names() == ("ingest", "transform", "train", "baselines", "evaluate")
