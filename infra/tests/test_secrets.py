"""Secret scan of the repository: what git tracks, plus the not-ignored files under infra/ (so
that a new file is caught before its first commit).

Fails on cloud keys, private keys, tokens, secret-named settings with a literal value, database
URLs with an inline password, and on files that must never be committed (.env files other than
.env.example, Terraform state and variable files, key files). Known placeholders are allowed; a
deliberate fake value in a test can carry `pragma: allowlist secret` on its line (the marker
detect-secrets also honours). Keep both allow-lists small.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

PLACEHOLDERS = frozenset(
    {"change-me", "changeme", "change_me", "placeholder", "example", "redacted", "dummy", "***", "..."}
)
ALLOW_PRAGMA = "pragma: allowlist secret"
MAX_BYTES = 2_000_000  # larger files are data, not configuration

# Files that hold secrets or state by nature: never in git (templates are fine).
FORBIDDEN_NAMES = [
    (re.compile(r"^\.env(\..+)?$"), "an environment file (only .env.example may be committed)"),
    (re.compile(r"\.tfstate(\..+)?$"), "Terraform state (holds resource attributes, often secrets)"),
    (re.compile(r"\.tfvars(\.json)?$"), "Terraform variables (commit terraform.tfvars.example instead)"),
    (re.compile(r"\.(pem|key|p12|pfx)$|^id_(rsa|dsa|ecdsa|ed25519)$"), "a key file"),
]
ALLOWED_NAMES = frozenset({".env.example"})

PATTERNS = [
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")),
    (
        "AWS secret access key",
        re.compile(
            r"(?i)aws_?secret_?access_?key\W{0,3}\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])"
        ),
    ),
    ("private key block", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
]
# NAME = value / NAME: value, where NAME says it is a secret.
ASSIGNMENT = re.compile(
    r"(?i)(?P<key>[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api_?key|admin_?key|fernet_?key|private_?key)"
    r"[A-Za-z0-9_.-]*)[\"']?\s*(?::|=|:=)\s*(?P<quote>[\"']?)(?P<value>[^\s\"'#,;)}\]]*)"
)
NOT_SECRET_KEY = re.compile(
    r"(?i)(_file|_path|_dir|_name|_names|_user|_users|_env|_var|_header|_length|_url)$"
)
URL_PASSWORD = re.compile(
    r"\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|redis|amqp)(?:\+\w+)?://[^\s:/@'\"]+:(?P<password>[^\s@'\"]+)@"
)
INTERPOLATION = re.compile(r"\$\{[^}]*\}")
# In code, only quoted values are literals (an unquoted value is an expression).
CODE_SUFFIXES = frozenset({".py", ".tf", ".hcl", ".tftest.hcl", ".js", ".ts", ".go"})


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}"


def is_reference(value: str) -> bool:
    """Interpolations and templates: ${VAR}, $VAR, $(cmd), {name}, %(name)s, <name>, %s."""
    return value.startswith(("$", "{", "%", "<", "*")) or value == ""


def looks_like_secret(value: str) -> bool:
    """A literal that could be a real secret: not a placeholder, not a variable *name*, long enough
    and mixing letters with digits (generated secrets do; names and prose rarely do)."""
    if value.lower() in PLACEHOLDERS or is_reference(value):
        return False
    if re.fullmatch(r"[A-Z0-9_]+", value) and not re.fullmatch(r"[0-9]+", value):
        return False  # an environment variable's name
    return len(value) >= 8 and bool(re.search(r"\d", value)) and bool(re.search(r"[A-Za-z]", value))


def scan_text(path: str, text: str) -> list[Finding]:
    code = any(path.endswith(suffix) for suffix in CODE_SUFFIXES)
    findings: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if ALLOW_PRAGMA in line:
            continue
        findings.extend(Finding(path, number, rule) for rule, pattern in PATTERNS if pattern.search(line))
        for match in ASSIGNMENT.finditer(line):
            if NOT_SECRET_KEY.search(match.group("key")) or (code and not match.group("quote")):
                continue
            if looks_like_secret(match.group("value")):
                findings.append(Finding(path, number, f"literal value for {match.group('key')}"))
        # ${...} interpolations (which may contain ':' themselves) count as one reference each.
        for match in URL_PASSWORD.finditer(INTERPOLATION.sub("${}", line)):
            password = match.group("password")
            if not is_reference(password) and password.lower() not in PLACEHOLDERS:
                findings.append(Finding(path, number, "connection URL with an inline password"))
    return findings


def forbidden_reason(path: str) -> str | None:
    name = PurePosixPath(path).name
    if name in ALLOWED_NAMES or name.endswith(".example"):
        return None
    for pattern, reason in FORBIDDEN_NAMES:
        if pattern.search(name):
            return reason
    return None


def git_files(*args: str) -> list[str]:
    result = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-z", *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"not a git checkout: {result.stderr.strip()}")
    return [path for path in result.stdout.split("\0") if path]


@pytest.fixture(scope="module")
def candidate_files() -> list[str]:
    """Tracked files, plus the untracked but not ignored files of infra/ and .dockerignore."""
    tracked = git_files()
    pending = git_files("--others", "--exclude-standard", "--", "infra", ".dockerignore")
    return sorted(set(tracked) | set(pending))


def read_text(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None  # binary
    return data.decode("utf-8", errors="replace")


def test_no_secrets_in_committed_files(candidate_files):
    findings = []
    for relative in candidate_files:
        text = read_text(REPO_ROOT / relative)
        if text is not None:
            findings.extend(scan_text(relative, text))
    assert not findings, "possible secrets:\n" + "\n".join(map(str, findings))


def test_no_secret_bearing_files_are_committed(candidate_files):
    offenders = [f"{path}: {reason}" for path in candidate_files if (reason := forbidden_reason(path))]
    assert not offenders, "\n".join(offenders)


def test_infra_files_are_scanned(candidate_files):
    # The scan must see this component's own files, committed or not yet.
    assert {"infra/docker-compose.yml", "infra/.env.example", ".dockerignore"} <= set(candidate_files)


# --------------------------------------------------------------------------- the rules themselves

LEAKS = {
    "aws key id": ("deploy.sh", "export AWS_ACCESS_KEY_ID=AKIA" + "Q3EGRIFNGDKMZXPV"),
    "aws secret": ("creds.ini", "aws_secret_access_key = " + "wJalrXUtnFEMIK7MDENGbPxRfiCYzz6xY4Q9s8Rk"),
    "private key": ("key.txt", "-----BEGIN OPENSSH " + "PRIVATE KEY-----"),
    "rsa private key": ("id.txt", "-----BEGIN RSA " + "PRIVATE KEY-----"),
    "github token": ("ci.yml", "token: ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
    "env password": ("infra/prod.env.txt", "POSTGRES_APP_PASSWORD=" + "s3cr3tValue42"),
    "yaml password": ("compose.yml", "      POSTGRES_PASSWORD: " + "Tr0ub4dor3x"),
    "python literal": ("settings.py", 'ADMIN_KEY = "' + 'k3y-0123456789abcdef"'),
    "json secret": ("config.json", '{"client_secret": "' + 'Zx9y8W7v6U5t4S3r"}'),
    "postgres url": ("app.py", 'URL = "postgresql+psycopg://app:' + 'Sup3rS3cret@db:5432/hotel"'),
    "postgres url in env": (
        ".env.sample",
        "DATABASE_URL=postgresql://app:" + "hunter2hunter2@localhost/hotel",
    ),
}

CLEAN = {
    "placeholder": (".env.example", "POSTGRES_APP_PASSWORD=change-me"),
    "compose interpolation": (
        "docker-compose.yml",
        "POSTGRES_PASSWORD: ${POSTGRES_SUPERUSER_PASSWORD:?set it}",
    ),
    "shell variable": ("setup_db.sh", 'APP_PASSWORD="${POSTGRES_PASSWORD:-}"'),
    "shell url": (
        "setup_db.sh",
        'APP_URL="postgresql+psycopg://$APP_USER:$(urlquote "$APP_PASSWORD")@127.0.0.1"',
    ),
    "python expression": ("db.py", 'password = os.environ["POSTGRES_APP_PASSWORD"]'),
    "python f-string url": ("db.py", 'url = f"postgresql+psycopg://{user}:{password}@{host}/hotel"'),
    "variable name": ("api.py", 'ADMIN_KEY_ENV = "API_ADMIN_KEY"'),
    "header name": ("api.py", 'API_KEY_HEADER = "X-Admin-Key"'),
    "generated in shell": ("user_data.sh", "value=$(openssl rand -hex 32)"),
    "passwords file path": ("compose.yml", "PASSWORDS_FILE: /opt/airflow/passwords.json"),
    "documented fake": ("test_x.py", 'PASSWORD = "fake-1234-value"  # pragma: allowlist secret'),
    "aws documentation key": ("README.md", "access key ids look like AKIAEXAMPLE (20 characters)"),
}


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_scanner_finds_leaks(name):
    path, line = LEAKS[name]
    assert scan_text(path, line), f"missed: {line}"


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_scanner_accepts_references_and_placeholders(name):
    path, line = CLEAN[name]
    assert scan_text(path, line) == []


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
