"""infra/docker-compose.yml, checked with the real Docker Compose binary (no engine needed).

``config`` resolves the file exactly as ``docker compose up`` would (interpolation, anchors,
profiles, dependencies) and exits 1 on any error; its JSON output is the model tested below. The
tests check what the resolution does (variables, profiles, missing secrets) and rules every
service must keep (health checks, secrets reaching only their services, loopback publishing); the
stack itself runs in infra/e2e (``./cli.sh docker-check``). What the file merely says (one
service's command, mounts, dependencies) is not restated here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "infra" / "docker-compose.yml"
BOOTSTRAP_SCRIPT = REPO_ROOT / "infra" / "postgres" / "init" / "00-bootstrap.sh"

API_REPLICAS = {"api-1", "api-2"}
CORE_SERVICES = {"postgres", "db-bootstrap", "mlflow", "dashboard", "proxy"} | API_REPLICAS
AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"}
CELERY_SERVICES = {"redis", "airflow-worker"}  # profile `celery`, with AIRFLOW_EXECUTOR=CeleryExecutor
AIRFLOW_IMAGE_SERVICES = AIRFLOW_SERVICES | {"airflow-worker"}  # one image, one shared configuration
# The variables ./cli.sh setup-db ENV writes to .env.ENV (scripts/setup_db.sh), and nothing else.
SETUP_DB_VARIABLES = (
    "APP_ENV",
    "POSTGRES_BACKEND",
    "POSTGRES_PORT",
    "POSTGRES_DB",
    "POSTGRES_SUPERUSER_PASSWORD",
    "POSTGRES_APP_USER",
    "POSTGRES_APP_PASSWORD",
    "POSTGRES_READONLY_USER",
    "POSTGRES_READONLY_PASSWORD",
    "DATABASE_URL",
    "DATABASE_URL_READONLY",
    "AIRFLOW_DB_USER",
    "AIRFLOW_DB_PASSWORD",
    "AIRFLOW_DATABASE_URL",
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$", re.IGNORECASE)
NOT_A_SECRET = re.compile(r"_(FILE|USERS?)$")  # e.g. a passwords *file* path, a users list
INTERPOLATION = re.compile(r"\$\{[^}]*\}")
URL_CREDENTIALS = re.compile(r"://(?P<user>[^:/@\s]+):(?P<password>[^@\s]+)@")


def sentinel(name: str) -> str:
    """A recognisable, URL-safe stand-in for the value of a secret variable."""
    return f"{name.lower().replace('_', '-')}-sentinel"


@pytest.fixture(scope="module")
def secret_values(example_env) -> dict[str, str]:
    """A distinct value for every placeholder of .env.example."""
    return {key: sentinel(key) for key, value in example_env.items() if value == "change-me"}


@pytest.fixture(scope="module")
def stack_env(example_env, secret_values) -> dict[str, str]:
    return {**example_env, **secret_values}


@pytest.fixture
def compose(commands, compose_bin, write_env_file):
    """compose(env_values, *args) -> CompletedProcess of `docker-compose -f FILE --env-file ENV ARGS`."""

    def run(values: dict[str, str], *args: str, project: str = "hotel"):
        env_file = write_env_file(values)
        argv = [compose_bin, "-f", COMPOSE_FILE, "-p", project, "--env-file", env_file, *args]
        return commands.run(argv, timeout=60)

    return run


@pytest.fixture
def model(compose, commands, stack_env) -> dict:
    """The resolved configuration of every service (all profiles), as JSON."""
    result = compose(stack_env, "--profile", "*", "config", "--format", "json")
    assert result.returncode == 0, commands.describe(result)
    return json.loads(result.stdout)


def test_config_is_valid_with_the_example_env_file(compose, commands, example_env):
    result = compose(example_env, "--profile", "*", "config", "--quiet")
    assert result.returncode == 0, commands.describe(result)


def test_every_example_variable_is_used_by_the_compose_file(example_env):
    text = COMPOSE_FILE.read_text()
    # COMPOSE_PROFILES is read by compose itself, not interpolated.
    unused = [key for key in example_env if key != "COMPOSE_PROFILES" and f"${{{key}" not in text]
    assert not unused, f".env.example documents variables the compose file never reads: {unused}"


def test_long_running_services_have_healthchecks(model):
    for name, service in model["services"].items():
        if service.get("restart") == "no":
            continue
        healthcheck = service.get("healthcheck", {})
        assert healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} disables its healthcheck"


def test_only_the_proxy_is_published_and_on_loopback_by_default(model):
    """The services listen on the stack's private network; the proxy's HTTPS port is the way in."""
    published = {
        name: [(port.get("host_ip"), port["published"], port["target"]) for port in service.get("ports", [])]
        for name, service in model["services"].items()
    }
    assert published == {
        **{name: [] for name in model["services"]},
        "postgres": [("127.0.0.1", "55435", 5432)],
        "proxy": [("127.0.0.1", "443", 8443)],
    }


def test_postgres_stays_on_loopback_when_services_listen_on_all_interfaces(compose, commands, stack_env):
    result = compose(
        {**stack_env, "HOST_BIND_ADDRESS": "0.0.0.0", "POSTGRES_PORT": "55999"},
        "--profile",
        "*",
        "config",
        "--format",
        "json",
    )
    assert result.returncode == 0, commands.describe(result)
    services = json.loads(result.stdout)["services"]
    assert [(p["host_ip"], p["published"]) for p in services["postgres"]["ports"]] == [("127.0.0.1", "55999")]
    assert services["proxy"]["ports"][0]["host_ip"] == "0.0.0.0"


def test_secrets_in_the_file_are_variable_references_only():
    """No literal secret in the compose file: secret-named settings and URL passwords must be
    ${VAR} interpolations (checked on the raw file, before interpolation)."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    offenders = []
    for name, service in raw["services"].items():
        environment = service.get("environment") or {}
        assert isinstance(environment, dict), f"{name}: use the mapping form of `environment`"
        for key, value in environment.items():
            text = "" if value is None else str(value)
            if (
                SECRET_NAME.search(key)
                and not NOT_A_SECRET.search(key)
                and not re.fullmatch(r"\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}", text)
            ):
                offenders.append(f"{name}.{key}={text}")
            # Each ${...} becomes one token; a URL's password must be exactly one of them.
            offenders.extend(
                f"{name}.{key}: literal password in URL"
                for match in URL_CREDENTIALS.finditer(INTERPOLATION.sub("${}", text))
                if match.group("password") != "${}"
            )
    assert not offenders, offenders


def test_each_secret_reaches_only_the_services_that_need_it(model, secret_values):
    expected = {
        "POSTGRES_SUPERUSER_PASSWORD": {"postgres", "db-bootstrap"},
        "POSTGRES_APP_PASSWORD": {"postgres", "db-bootstrap", "mlflow", "pipeline"}
        | API_REPLICAS
        | AIRFLOW_IMAGE_SERVICES,
        "POSTGRES_READONLY_PASSWORD": {"postgres", "db-bootstrap", "dashboard"},
        "API_ADMIN_KEY": API_REPLICAS,
        "API_KEYS": API_REPLICAS,
        "DASHBOARD_API_KEY": API_REPLICAS | {"dashboard"},
        "PROXY_PASSWORD": {"proxy"},
        "AIRFLOW_DB_PASSWORD": {"postgres", "db-bootstrap"} | AIRFLOW_IMAGE_SERVICES,
        "AIRFLOW_ADMIN_PASSWORD": {"airflow-apiserver"},
        "AIRFLOW_FERNET_KEY": AIRFLOW_IMAGE_SERVICES,
        "AIRFLOW_JWT_SECRET": AIRFLOW_IMAGE_SERVICES,
        "AIRFLOW_API_SECRET_KEY": AIRFLOW_IMAGE_SERVICES,
        "REDIS_PASSWORD": {"redis"} | AIRFLOW_IMAGE_SERVICES,
    }
    assert set(expected) == set(secret_values), "every placeholder of .env.example is accounted for"
    for variable, services in expected.items():
        value = secret_values[variable]
        holders = {
            name
            for name, service in model["services"].items()
            if any(value in str(v) for v in (service.get("environment") or {}).values())
        }
        assert holders == services, variable


def test_init_script_is_executable():
    # The postgres image executes *.sh files that are executable and *sources* the others, which
    # would run `set -u` inside its own entrypoint.
    assert BOOTSTRAP_SCRIPT.stat().st_mode & 0o111 == 0o111


def test_airflow_services_share_one_configuration(model):
    services = model["services"]
    shared = (
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__API__BASE_URL",
    )
    reference = services["airflow-scheduler"]["environment"]
    assert reference["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert reference["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        "http://airflow-apiserver:8080/airflow/execution/"
    )
    assert reference["AIRFLOW__API__BASE_URL"] == "https://localhost/airflow"  # under the proxy's /airflow/
    for name in AIRFLOW_IMAGE_SERVICES:
        environment = services[name]["environment"]
        assert {key: environment[key] for key in shared} == {key: reference[key] for key in shared}, name
        dags = next(v for v in services[name]["volumes"] if v["target"] == "/opt/airflow/dags")
        assert dags["read_only"] is True
        assert dags["source"] == str(REPO_ROOT / "infra" / "airflow" / "dags")
        assert services[name]["build"]["target"] == "airflow"


def test_celery_profile_runs_workers_on_a_password_protected_broker(compose, commands, stack_env):
    values = {**stack_env, "AIRFLOW_EXECUTOR": "CeleryExecutor", "COMPOSE_PROFILES": "airflow,celery"}
    listed = compose(values, "config", "--services")
    assert listed.returncode == 0, commands.describe(listed)
    assert set(listed.stdout.split()) == CORE_SERVICES | AIRFLOW_SERVICES | CELERY_SERVICES
    resolved = compose(values, "config", "--format", "json")
    assert resolved.returncode == 0, commands.describe(resolved)
    services = json.loads(resolved.stdout)["services"]
    password = stack_env["REDIS_PASSWORD"]
    for name in AIRFLOW_IMAGE_SERVICES:
        environment = services[name]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert environment["AIRFLOW__CELERY__BROKER_URL"] == f"redis://:{password}@redis:6379/0", name
    # The password reaches the broker as a variable only: never a command line, which `ps` and
    # `docker inspect` show; the broker is published on no host port.
    for name, service in services.items():
        assert password not in json.dumps(service.get("command")), name
    assert services["redis"]["environment"]["REDIS_PASSWORD"] == password
    assert not services["redis"].get("ports")
    assert "celery worker" in " ".join(services["airflow-worker"]["command"])


def test_setup_db_env_file_is_enough_to_start_postgres(compose, commands, stack_env):
    """`./cli.sh setup-db ENV` runs `docker compose -p hotel-ENV --env-file .env.ENV up -d --wait
    postgres` with only the variables it writes: interpolation of the whole file must succeed."""
    values = {key: stack_env.get(key, "") for key in SETUP_DB_VARIABLES}
    values.update(APP_ENV="test", POSTGRES_PORT="55433", DATABASE_URL="", DATABASE_URL_READONLY="")
    result = compose(values, "config", "--format", "json", "postgres", project="hotel-test")
    assert result.returncode == 0, commands.describe(result)
    project = json.loads(result.stdout)
    assert project["name"] == "hotel-test"
    postgres = project["services"]["postgres"]
    assert [(p["host_ip"], p["published"]) for p in postgres["ports"]] == [("127.0.0.1", "55433")]
    assert postgres["environment"]["POSTGRES_PASSWORD"] == stack_env["POSTGRES_SUPERUSER_PASSWORD"]


@pytest.mark.parametrize(
    "missing", ["POSTGRES_SUPERUSER_PASSWORD", "POSTGRES_APP_PASSWORD", "POSTGRES_READONLY_PASSWORD"]
)
def test_missing_postgres_password_stops_compose(compose, stack_env, missing):
    values = {key: value for key, value in stack_env.items() if key != missing}
    result = compose(values, "config", "--quiet")
    assert result.returncode != 0
    assert missing in result.stderr


def test_both_api_replicas_are_the_same_service(model):
    first, second = (model["services"][name] for name in sorted(API_REPLICAS))
    assert first == second
