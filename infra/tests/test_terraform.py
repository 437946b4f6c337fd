"""infra/terraform: fmt, init, validate and `terraform test` (mocked AWS provider), offline.

The module is copied to a temporary folder first, so that `init` writes neither .terraform/ nor
.terraform.lock.hcl into the working tree; the provider comes from a local mirror where there is
one (conftest's terraform_env).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE = REPO_ROOT / "infra" / "terraform"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def terraform(tmp_path_factory, commands, terraform_bin, terraform_env):
    """run(*args, cwd=the module copy) for an initialised copy of the module."""
    root = tmp_path_factory.mktemp("terraform")
    workdir = root / "module"
    shutil.copytree(
        MODULE,
        workdir,
        ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfvars"),
    )
    env = terraform_env(root)

    def run(*args: str, cwd: Path = workdir, timeout: float = 300):
        return commands.run([terraform_bin, *args], cwd=cwd, env=env, timeout=timeout)

    init = run("init", "-backend=false", "-input=false", "-no-color")
    assert init.returncode == 0, commands.describe(init)
    return run


def test_fmt(commands, terraform_bin):
    result = commands.run(
        [terraform_bin, "fmt", "-check", "-recursive", "-diff", "-no-color"],
        cwd=MODULE,
        env={"CHECKPOINT_DISABLE": "1"},
    )
    assert result.returncode == 0, commands.describe(result)


def test_validate(terraform, commands):
    result = terraform("validate", "-no-color", "-json")
    assert result.returncode == 0, commands.describe(result)
    report = json.loads(result.stdout)
    assert report["valid"], report
    assert report["warning_count"] == 0, report["diagnostics"]


def test_terraform_test_runs_every_case(terraform, commands):
    result = terraform("test", "-no-color", timeout=600)
    assert result.returncode == 0, commands.describe(result)
    runs = sum(
        len(re.findall(r'^run "', path.read_text(), re.M)) for path in (MODULE / "tests").glob("*.tftest.hcl")
    )
    assert runs >= 10
    assert f"Success! {runs} passed, 0 failed." in result.stdout, result.stdout


def test_user_data_renders_to_valid_bash(commands, terraform_bin, tmp_path):
    """The template, rendered by Terraform itself, is a valid bash script, and so is the
    hotel-stack script it installs."""
    variables = {
        "repo_url": "https://github.com/example/hotel.git",
        "repo_branch": "main",
        "artifact_bucket": "bucket",
        "region": "eu-west-1",
        "compose_profiles": "airflow",
        "train_on_first_boot": True,
    }
    template = json.dumps(str(MODULE / "user_data.sh.tftpl"))
    values = json.dumps(json.dumps(variables))
    expression = f"jsonencode(templatefile({template}, jsondecode({values})))"
    # In an empty folder, `console` needs neither providers nor state.
    console = commands.run(
        [terraform_bin, "console", "-no-color"],
        cwd=tmp_path,
        env={"CHECKPOINT_DISABLE": "1"},
        stdin=expression + "\n",
        timeout=60,
    )
    assert console.returncode == 0, commands.describe(console)
    user_data = json.loads(json.loads(console.stdout))
    leftover = re.compile(r"\$\{(?:" + "|".join(variables) + r")\}")
    assert not leftover.search(user_data), "a template variable was left unrendered"
    script = tmp_path / "user_data.sh"
    script.write_text(user_data)
    checked = commands.run(["bash", "-n", script])
    assert checked.returncode == 0, commands.describe(checked)

    stack = re.search(r"<<'SCRIPT'\n(.*?)\nSCRIPT\n", user_data, re.S)
    assert stack, "the user data installs /usr/local/sbin/hotel-stack"
    (tmp_path / "hotel-stack").write_text(stack.group(1))
    checked = commands.run(["bash", "-n", tmp_path / "hotel-stack"])
    assert checked.returncode == 0, commands.describe(checked)
    assert "docker compose -f infra/docker-compose.yml --env-file" in stack.group(1)
    assert 'if [ "true" = true ]' in stack.group(1), "train_on_first_boot is rendered into the script"
    assert 'case "${1:-up}" in' in stack.group(1), (
        "bash's own ${...} survive rendering ($${...} in the template)"
    )
