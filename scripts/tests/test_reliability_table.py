"""README's Reliability table: rendered from the fault suite's records, written between its
markers, and checked against a run (cases, not figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_engineering.src.paths import REPO_ROOT
from scripts import reliability_table as rt

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def _record(directory: Path, name: str, case: str, sent: int, kept: int, *, detail: str = "") -> None:
    """A record as the fault_case fixture of conftest.py writes it."""
    entry = {"test": name, "case": case, "sent": sent, "kept": kept, "lost": sent - kept, "detail": detail}
    (directory / f"{name.replace('/', '_')}.json").write_text(json.dumps(entry))


@pytest.fixture
def records(tmp_path: Path) -> Path:
    directory = tmp_path / "faults"
    directory.mkdir()
    _record(directory, "data_science/tests/test_faults.py::test_b", "kill -9 | rerun", 300_000, 300_000)
    _record(
        directory,
        "api/tests/test_faults.py::test_a",
        "PostgreSQL stopped",
        1096,
        1096,
        detail="all 200;\n22 s",
    )
    return directory


@pytest.fixture
def readme(tmp_path: Path) -> Path:
    path = tmp_path / "README.md"
    path.write_text(
        f"# Title\n\n## Reliability\n\nText.\n\n{rt.START}\n{rt.END}\n\n## Next\n", encoding="utf-8"
    )
    return path


def test_the_table_has_a_row_per_case_by_component_with_its_figures(records: Path) -> None:
    table = rt.table(rt.recorded(records))
    assert table.splitlines() == [
        *rt.HEADER,
        "| PostgreSQL stopped | 1,096 | 1,096 | 0 | all 200; 22 s |",
        "| kill -9 \\| rerun | 300,000 | 300,000 | 0 |  |",
    ]


def test_write_replaces_only_the_text_between_the_markers(records: Path, readme: Path) -> None:
    cases = rt.recorded(records)
    assert rt.write(readme, cases)
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\n## Reliability\n\nText.\n\n")
    assert text.endswith(f"{rt.END}\n\n## Next\n")
    assert rt.documented(text) == rt.table(cases)
    assert not rt.write(readme, cases)  # already up to date


def test_check_compares_cases_not_figures(records: Path, readme: Path) -> None:
    rt.write(readme, rt.recorded(records))
    _record(records, "api/tests/test_faults.py::test_a", "PostgreSQL stopped", 2000, 2000)  # another run
    assert rt.problems(readme.read_text(encoding="utf-8"), rt.recorded(records)) == []


def test_check_fails_on_a_new_case_a_removed_one_and_any_loss(records: Path, readme: Path) -> None:
    rt.write(readme, rt.recorded(records))
    _record(records, "api/tests/test_faults.py::test_c", "disk full", 10, 9)
    (records / "data_science_tests_test_faults.py::test_b.json").unlink()
    found = rt.problems(readme.read_text(encoding="utf-8"), rt.recorded(records))
    assert found == [
        "recorded but not in README.md: disk full",
        "in README.md but not recorded by this run: kill -9 \\| rerun",
        "lost 1 of 10: disk full (api/tests/test_faults.py::test_c)",
    ]


def test_the_readme_has_the_generated_table_and_it_shows_no_loss() -> None:
    shown = rt.documented_cases(README)
    assert shown, (
        "README's Reliability table is empty: ./cli.sh test fault && ./cli.sh reliability-table --write"
    )
    assert set(shown.values()) == {"0"}


def test_nothing_recorded_is_an_error_saying_what_to_run(tmp_path: Path, capsys) -> None:
    assert rt.main(["--results", str(tmp_path / "none")]) == 1
    assert "run ./cli.sh test fault" in capsys.readouterr().err
