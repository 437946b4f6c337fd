"""Secret scan of the repository with detect-secrets and the committed baseline `.secrets.baseline`.

The scan covers what git tracks plus the untracked files it does not ignore (a new file is caught
before its first commit), with the plugins and filters recorded in the baseline. It fails on any
finding the baseline does not hold; the baseline holds only findings audited as *not* secrets.
The same scanner runs as a pre-commit hook (.pre-commit-config.yaml).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import string
import subprocess
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath

import pytest
from detect_secrets.core import baseline as ds_baseline
from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import transient_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
BASELINE = REPO_ROOT / ".secrets.baseline"

HOW_TO_FIX = """\
If one is a real secret: remove it, keep it in the environment or an ignored .env file, and rotate
it if it was ever pushed. If it is not a secret, either
  - add `# pragma: allowlist secret` at the end of its line (a deliberate fake in a test), or
  - record it in the baseline and audit it (hashes, resource names and the like):
      git add THE_FILE                                                    # the scan reads git's list
      .venv/bin/detect-secrets scan --no-verify --baseline .secrets.baseline
      .venv/bin/detect-secrets audit .secrets.baseline                    # answer n: not a secret
  then commit .secrets.baseline."""

# Files that hold secrets or state by nature: never in git (templates such as *.example are fine).
FORBIDDEN_NAMES = {
    ".env": "an environment file (only .env.example may be committed)",
    ".env.*": "an environment file (only .env.example may be committed)",
    "*.tfstate": "Terraform state (holds resource attributes, often secrets)",
    "*.tfstate.*": "Terraform state (holds resource attributes, often secrets)",
    "*.tfvars": "Terraform variables (commit terraform.tfvars.example instead)",
    "*.tfvars.json": "Terraform variables (commit terraform.tfvars.example instead)",
    "*.pem": "a key file",
    "*.key": "a key file",
    "*.p12": "a key file",
    "*.pfx": "a key file",
    "id_rsa": "a key file",
    "id_dsa": "a key file",
    "id_ecdsa": "a key file",
    "id_ed25519": "a key file",
}


def candidate_files(root: Path) -> list[str]:
    """Files git tracks under ``root`` plus the untracked ones it does not ignore."""
    result = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"the secret scan needs a git checkout: {result.stderr.strip()}")
        pytest.skip(f"not a git checkout: {result.stderr.strip()}")
    return sorted({path for path in result.stdout.split("\0") if path and (root / path).is_file()})


def scan(root: Path, files: list[str], settings: dict) -> SecretsCollection:
    """Findings in ``files`` (relative to ``root``) with a baseline's plugins and filters, keyed
    and named by their path relative to ``root``, as `detect-secrets scan` run there records them."""
    with transient_settings(settings):
        found = SecretsCollection(root=str(root))
        found.scan_files(*files, num_processors=min(4, os.cpu_count() or 1))
    relative = SecretsCollection()
    for filename, secret in found:
        secret.filename = filename  # the scanner names the absolute path it read
        relative[filename].add(secret)
    return relative


def unbaselined_secrets(root: Path, files: list[str], baseline: Path) -> list[str]:
    """The findings in ``files`` that ``baseline`` does not hold, as ``path:line: type``.

    The baseline itself is skipped (it holds hashes of findings), as `detect-secrets scan` does."""
    recorded = ds_baseline.upgrade(ds_baseline.load_from_file(str(baseline)))
    files = [name for name in files if (root / name).resolve() != baseline.resolve()]
    new = scan(root, files, recorded) - SecretsCollection.load_from_baseline(recorded)
    return sorted(f"{filename}:{secret.line_number}: {secret.type}" for filename, secret in new)


def forbidden_reason(path: str) -> str | None:
    name = PurePosixPath(path).name
    if name.endswith(".example"):
        return None
    return next((reason for pattern, reason in FORBIDDEN_NAMES.items() if fnmatch(name, pattern)), None)


def test_no_secrets_outside_the_baseline():
    findings = unbaselined_secrets(REPO_ROOT, candidate_files(REPO_ROOT), BASELINE)
    assert not findings, (
        f"detect-secrets found {len(findings)} possible secret(s) that {BASELINE.name} does not "
        "hold:\n  " + "\n  ".join(findings) + "\n" + HOW_TO_FIX
    )


def test_baseline_holds_only_audited_non_secrets():
    """A finding silenced by re-running `scan --baseline` without auditing it does not count."""
    results = json.loads(BASELINE.read_text())["results"]
    unaudited = [
        f"{filename}:{entry['line_number']}: {entry['type']} (is_secret: {entry.get('is_secret')})"
        for filename, entries in results.items()
        for entry in entries
        if entry.get("is_secret") is not False
    ]
    assert not unaudited, (
        "baseline entries not audited as false positives (run `.venv/bin/detect-secrets audit "
        ".secrets.baseline`; a real secret must be removed, not recorded):\n  " + "\n  ".join(unaudited)
    )


def test_no_secret_bearing_files_are_committed():
    offenders = [
        f"{path}: {reason}" for path in candidate_files(REPO_ROOT) if (reason := forbidden_reason(path))
    ]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize(
    ("path", "forbidden"),
    [
        (".env", True),
        (".env.test", True),
        ("infra/.env", True),
        ("infra/.env.example", False),
        ("infra/terraform/terraform.tfstate", True),
        ("infra/terraform/terraform.tfstate.backup", True),
        ("infra/terraform/terraform.tfvars", True),
        ("infra/terraform/terraform.tfvars.example", False),
        ("deploy/id_ed25519", True),
        ("certs/server.pem", True),
        ("infra/docker-compose.yml", False),
    ],
)
def test_forbidden_file_names(path, forbidden):
    assert (forbidden_reason(path) is not None) == forbidden


# --------------------------------------------------------------------------- the scan can fail
# Fake secrets are made at run time, so that this file itself holds none.


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _high_entropy(length: int = 40) -> str:
    """``length`` distinct letters and digits: Shannon entropy log2(length) (5.3 bits for 40),
    always above the scanner's limit (4.5). Drawn with repeats, one string in a few hundred fell
    below it and the scan rightly let it pass."""
    return "".join(secrets.SystemRandom().sample(string.ascii_letters + string.digits, length))


def _private_key() -> str:
    body = "\n".join(_random(string.ascii_letters + string.digits + "+/", 64) for _ in range(8))
    kind = "RSA"
    return f"-----BEGIN {kind} PRIVATE KEY-----\n{body}\n-----END {kind} PRIVATE KEY-----\n"


PLANTED = {
    "private key": ("deploy/id.txt", _private_key),
    "high-entropy string": (
        "settings.py",
        lambda: f'SIGNING = "{_high_entropy()}"\n',
    ),
    "aws access key id": (
        "deploy.sh",
        lambda: f"export AWS_ACCESS_KEY_ID={'AKIA'}{_random(string.ascii_uppercase + string.digits, 16)}\n",
    ),
    "github token": (
        ".github/workflows/x.yml",
        lambda: f"token: {'ghp'}_{_random(string.ascii_letters + string.digits, 36)}\n",
    ),
    "password in yaml": (
        "compose.yml",
        lambda: f"      POSTGRES_PASSWORD: {_random(string.ascii_letters, 14)}\n",
    ),
    "password in a database url": (
        "app.py",
        lambda: f'URL = "postgresql+psycopg://app:{_random(string.ascii_letters, 12)}@db:5432/hotel"\n',
    ),
}


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    """An empty git repository with this project's baseline (its plugins, filters, no results)."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy2(BASELINE, tmp_path / ".secrets.baseline")
    return tmp_path


def _plant(repo: Path, relative: str, text: str) -> None:
    (repo / relative).parent.mkdir(parents=True, exist_ok=True)
    (repo / relative).write_text(text)


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_scan_catches_planted_secret(scratch_repo, kind):
    relative, make = PLANTED[kind]
    _plant(scratch_repo, relative, make())
    files = candidate_files(scratch_repo)
    assert relative in files  # untracked, not ignored: scanned before its first commit
    findings = unbaselined_secrets(scratch_repo, files, scratch_repo / ".secrets.baseline")
    assert any(finding.startswith(f"{relative}:") for finding in findings), f"missed the {kind}"


def test_allowlist_pragma_and_audited_baseline_entries_are_not_reported(scratch_repo):
    password = _random(string.ascii_letters, 14)
    _plant(scratch_repo, "fake.yml", f"PASSWORD: {password}  # pragma: allowlist secret\n")
    _plant(scratch_repo, "audited.py", f'TOKEN = "{_high_entropy()}"\n')
    baseline = scratch_repo / ".secrets.baseline"
    files = candidate_files(scratch_repo)
    assert {f.split(":")[0] for f in unbaselined_secrets(scratch_repo, files, baseline)} == {"audited.py"}

    # Record audited.py's finding in the baseline, as `detect-secrets scan --baseline` would.
    recorded = ds_baseline.load_from_file(str(baseline))
    recorded["results"] = scan(scratch_repo, ["audited.py"], recorded).json()
    baseline.write_text(json.dumps(recorded))
    assert unbaselined_secrets(scratch_repo, files, baseline) == []

    # A new secret in an already recorded file is still reported.
    with (scratch_repo / "audited.py").open("a") as stream:
        # A keyword: found whatever its entropy.
        stream.write(f'API_TOKEN = "{_random(string.ascii_letters + string.digits, 40)}"\n')
    assert {tuple(f.split(":")[:2]) for f in unbaselined_secrets(scratch_repo, files, baseline)} == {
        ("audited.py", "2")
    }
