"""The test tiers (conftest.py): each test gets exactly one, from its own marker, else its folder and
the fixtures it uses; ``--model-uri`` and ``--data-file`` reach the tests.

Run on a small tree of tests under the repository's own conftest.py (pytester, in-process
collection): what a test uses decides, not its file name or its component.
"""

from __future__ import annotations

import pytest

from data_engineering.src.paths import REPO_ROOT

TESTS = """
import pytest

def test_pure():
    assert True

def test_database(pg_url):
    pass

def test_through_another_fixture(uses_the_pipeline):
    pass

@pytest.fixture
def uses_the_pipeline(trained_workspace):
    return trained_workspace

@pytest.mark.postgres
def test_older_marker():
    pass

@pytest.mark.model
def test_named_model(trained_workspace):
    pass

@pytest.mark.e2e
def test_named_e2e(pg_url):
    pass

def test_runs_a_module(run_module):
    pass
"""


@pytest.fixture
def tiers(pytester: pytest.Pytester) -> dict[str, str]:
    """Each test of TESTS by name: the one tier marker it was collected with."""
    pytester.makeconftest((REPO_ROOT / "conftest.py").read_text())
    pytester.makepyfile(test_tiers_sample=TESTS)
    items, _ = pytester.inline_genitems("-p", "no:cacheprovider")
    assert len(items) == TESTS.count("def test_")
    found = {}
    for item in items:
        marked = [
            name for name in ("unit", "integration", "e2e", "model", "data") if item.get_closest_marker(name)
        ]
        assert len(marked) == 1, (item.name, marked)
        found[item.name] = marked[0]
    return found


def test_a_test_using_nothing_outside_is_unit(tiers: dict[str, str]) -> None:
    assert tiers["test_pure"] == "unit"


def test_the_database_or_the_pipeline_makes_it_integration_directly_or_through_a_fixture(
    tiers: dict[str, str],
) -> None:
    assert tiers["test_database"] == "integration"
    assert tiers["test_through_another_fixture"] == "integration"
    assert tiers["test_runs_a_module"] == "integration"
    assert tiers["test_older_marker"] == "integration"


def test_a_named_tier_wins_over_what_the_test_uses(tiers: dict[str, str]) -> None:
    assert tiers["test_named_model"] == "model"
    assert tiers["test_named_e2e"] == "e2e"


def test_two_named_tiers_are_refused(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((REPO_ROOT / "conftest.py").read_text())
    pytester.makepyfile(
        test_both="import pytest\n\n@pytest.mark.unit\n@pytest.mark.model\ndef test_both():\n    pass\n"
    )
    result = pytester.runpytest("--collect-only", "-p", "no:cacheprovider")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*marked with several tiers*"])


def test_the_options_reach_the_tests(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((REPO_ROOT / "conftest.py").read_text())
    pytester.makepyfile(
        test_options=(
            "def test_options(request):\n"
            "    assert request.config.getoption('--model-uri') == 'models:/m@champion'\n"
            "    assert request.config.getoption('--data-file') == 'bookings.csv'\n"
        )
    )
    result = pytester.runpytest("--model-uri", "models:/m@champion", "--data-file", "bookings.csv")
    result.assert_outcomes(passed=1)
