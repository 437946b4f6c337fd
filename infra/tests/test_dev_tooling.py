"""The developer tooling around the code: the pre-commit hooks and the GitHub Actions workflow.

Both only run elsewhere (in a developer's `git commit`, on GitHub), so these tests check offline
what can be checked here: the files are valid for their tools, the hooks use the versions the
lock file installs, and the secret hook's command line works against the committed baseline.
"""

from __future__ import annotations

import re
import secrets
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]

PRE_COMMIT_CONFIG = REPO_ROOT / ".pre-commit-config.yaml"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"


def locked_versions() -> dict[str, str]:
    lock = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"]}


def hooks() -> dict[str, tuple[dict, dict]]:
    """Each hook id -> (its repository entry, the hook)."""
    config = yaml.safe_load(PRE_COMMIT_CONFIG.read_text())
    return {hook["id"]: (repo, hook) for repo in config["repos"] for hook in repo["hooks"]}


def test_pre_commit_config_is_valid(venv_tool, commands):
    commands.check([venv_tool("pre-commit"), "validate-config", PRE_COMMIT_CONFIG], cwd=REPO_ROOT)


def test_hooks_pin_the_locked_versions():
    """A hook on another version than `./cli.sh lint` / the tests would disagree with them."""
    versions, configured = locked_versions(), hooks()
    repo, _ = configured["ruff-format"]
    assert configured["ruff-check"][0] is repo
    assert repo["rev"] == f"v{versions['ruff']}", "update the ruff-pre-commit rev to uv.lock's ruff"
    _, secret_hook = configured["detect-secrets"]
    pins = [dep for dep in secret_hook["additional_dependencies"] if dep.startswith("bc-detect-secrets==")]
    assert pins == [f"bc-detect-secrets=={versions['bc-detect-secrets']}"]


def test_mypy_hook_checks_what_lint_checks():
    """The hook runs the locked mypy of .venv on [tool.mypy]'s files: the packages `./cli.sh lint` types."""
    _, hook = hooks()["mypy"]
    assert (hook["language"], hook["entry"], hook["pass_filenames"]) == ("system", ".venv/bin/mypy", False)
    assert "mypy" in locked_versions()
    files = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    typed = re.search(r"^TYPED_COMPONENTS=\(([^)]*)\)", (REPO_ROOT / "cli.sh").read_text(), re.M)
    assert typed is not None
    assert sorted(files) == sorted(typed.group(1).split())


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy2(REPO_ROOT / ".secrets.baseline", tmp_path / ".secrets.baseline")
    return tmp_path


def test_secret_hook_fails_on_a_new_secret_only(scratch_repo, venv_tool, commands):
    """The hook's own command line (as pre-commit runs it on staged files) with our baseline."""
    program, *args = shlex.split(hooks()["detect-secrets"][1]["entry"])
    (scratch_repo / "clean.py").write_text('HOTEL = "City Hotel"\n')
    (scratch_repo / "leak.py").write_text(f'api_token = "{secrets.token_urlsafe(30)}"\n')

    clean = commands.run([venv_tool(program), *args, "clean.py"], cwd=scratch_repo)
    assert clean.returncode == 0, commands.describe(clean)
    leak = commands.run([venv_tool(program), *args, "clean.py", "leak.py"], cwd=scratch_repo)
    assert leak.returncode == 1, commands.describe(leak)
    assert "leak.py" in leak.stdout


def test_ci_workflow_is_valid_for_github(venv_tool, commands):
    """GitHub's workflow schema (vendored in check-jsonschema, so no network)."""
    commands.check(
        [venv_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", WORKFLOW],
        cwd=REPO_ROOT,
    )
