"""infra/docker-compose.yml, checked with the real Docker Compose binary (no engine needed).

``config`` resolves the file exactly as ``docker compose up`` would (interpolation, anchors,
profiles, dependencies) and exits 1 on any error; its JSON output is the model tested below.
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


def test_services_and_profiles(compose, commands, stack_env, model):
    default = compose(stack_env, "config", "--services")
    assert default.returncode == 0, commands.describe(default)
    assert set(default.stdout.split()) == CORE_SERVICES, "`up` without profiles starts exactly the core stack"

    services = model["services"]
    assert set(services) == CORE_SERVICES | AIRFLOW_SERVICES | CELERY_SERVICES | {"pipeline"}
    assert services["pipeline"]["profiles"] == ["jobs"]
    for name in AIRFLOW_SERVICES:
        assert services[name]["profiles"] == ["airflow"], name
    for name in CELERY_SERVICES:
        assert services[name]["profiles"] == ["celery"], name


def test_postgres_healthcheck_uses_pg_isready_over_tcp(model):
    test = model["services"]["postgres"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert "pg_isready" in test
    # TCP: the image's initialisation server listens on the socket only, so the service turns
    # healthy only once the init script has run.
    assert "--host=127.0.0.1" in test


def test_long_running_services_have_healthchecks(model):
    for name, service in model["services"].items():
        if service.get("restart") == "no":
            continue
        healthcheck = service.get("healthcheck", {})
        assert healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} disables its healthcheck"


@pytest.mark.parametrize(
    ("service", "dependency", "condition"),
    [
        *(
            (api, dependency, condition)
            for api in sorted(API_REPLICAS)
            for dependency, condition in (
                ("postgres", "service_healthy"),
                ("mlflow", "service_healthy"),
                ("db-bootstrap", "service_completed_successfully"),
            )
        ),
        ("proxy", "api-1", "service_healthy"),
        ("proxy", "api-2", "service_healthy"),
        ("mlflow", "postgres", "service_healthy"),
        ("mlflow", "db-bootstrap", "service_completed_successfully"),
        ("dashboard", "postgres", "service_healthy"),
        ("pipeline", "mlflow", "service_healthy"),
        ("db-bootstrap", "postgres", "service_healthy"),
        ("airflow-init", "postgres", "service_healthy"),
        ("airflow-init", "db-bootstrap", "service_completed_successfully"),
        ("airflow-apiserver", "airflow-init", "service_completed_successfully"),
        ("airflow-scheduler", "airflow-init", "service_completed_successfully"),
        ("airflow-scheduler", "airflow-apiserver", "service_healthy"),
        ("airflow-dag-processor", "airflow-init", "service_completed_successfully"),
        ("airflow-init", "redis", "service_healthy"),
        ("airflow-worker", "airflow-init", "service_completed_successfully"),
        ("airflow-worker", "redis", "service_healthy"),
    ],
)
def test_dependencies_wait_for_readiness(model, service, dependency, condition):
    depends_on = model["services"][service].get("depends_on", {})
    assert depends_on.get(dependency, {}).get("condition") == condition


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


def test_connection_urls_use_psycopg_and_the_right_roles(model, secret_values):
    services = model["services"]
    app_password = secret_values["POSTGRES_APP_PASSWORD"]
    ro_password = secret_values["POSTGRES_READONLY_PASSWORD"]
    airflow_password = secret_values["AIRFLOW_DB_PASSWORD"]
    app_url = f"postgresql+psycopg://hotel_app:{app_password}@postgres:5432/hotel"

    for name in API_REPLICAS:
        assert services[name]["environment"]["DATABASE_URL"] == app_url
    assert services["pipeline"]["environment"]["DATABASE_URL"] == app_url
    assert services["dashboard"]["environment"]["DATABASE_URL_READONLY"] == (
        f"postgresql+psycopg://hotel_readonly:{ro_password}@postgres:5432/hotel"
    )
    assert "DATABASE_URL" not in services["dashboard"]["environment"], (
        "dashboards get the read-only role only"
    )
    assert services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"] == (
        f"postgresql+psycopg://hotel_app:{app_password}@postgres:5432/mlflow"
    )
    for name in AIRFLOW_IMAGE_SERVICES:
        assert services[name]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
            f"postgresql+psycopg://airflow:{airflow_password}@postgres:5432/airflow"
        )
    for name in (*API_REPLICAS, "dashboard", "pipeline", *AIRFLOW_IMAGE_SERVICES):
        assert services[name]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000/mlflow", name
    # The dashboard calls the API through the proxy's private listener, with a key of its own.
    assert services["dashboard"]["environment"]["API_URL"] == "http://proxy:8000"


def test_mlflow_serves_artifacts_from_a_named_volume(model):
    mlflow = model["services"]["mlflow"]
    assert mlflow["command"] == ["mlflow", "--static-prefix", "/mlflow"]
    assert mlflow["environment"]["MLFLOW_ARTIFACTS_DESTINATION"] == "/var/lib/mlflow/artifacts"
    assert {
        "type": "volume",
        "source": "mlflow-artifacts",
        "target": "/var/lib/mlflow/artifacts",
    }.items() <= (mlflow["volumes"][0].items())
    # Other containers reach MLflow as http://mlflow:5000: that Host header must be allowed.
    allowed = mlflow["environment"]["MLFLOW_ALLOWED_HOSTS"].split(",")
    assert {"mlflow", "mlflow:*", "localhost:*"} <= set(allowed)


def test_postgres_data_and_bootstrap_mounts(model):
    postgres = model["services"]["postgres"]
    volumes = {volume["target"]: volume for volume in postgres["volumes"]}
    assert volumes["/var/lib/postgresql/data"]["type"] == "volume"
    init_script = volumes["/docker-entrypoint-initdb.d/00-bootstrap.sh"]
    assert init_script["source"] == str(BOOTSTRAP_SCRIPT)
    assert init_script["read_only"] is True
    # bootstrap.sql needs psql variables: the image must not run it on its own, as it would any
    # *.sql file in /docker-entrypoint-initdb.d.
    sql = [v for v in postgres["volumes"] if v["source"].endswith("bootstrap.sql")]
    assert len(sql) == 1
    assert not sql[0]["target"].startswith("/docker-entrypoint-initdb.d")
    assert sql[0]["target"] == postgres["environment"]["BOOTSTRAP_SQL"]
    # The image does not create the application database (bootstrap.sql does, owned by the app role).
    assert "POSTGRES_DB" not in postgres["environment"]
    assert postgres["image"] == "postgres:16"


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


def test_platform_services_share_the_image_and_pick_their_command(model):
    services = model["services"]
    names = ("api-1", "api-2", "proxy", "dashboard", "mlflow", "pipeline")
    commands = {name: services[name]["command"][0] for name in names}
    assert commands == {
        "api-1": "api",
        "api-2": "api",
        "proxy": "proxy",
        "dashboard": "dashboard",
        "mlflow": "mlflow",
        "pipeline": "pipeline",
    }
    images = {services[name]["image"] for name in commands}
    assert images == {"hotel-cancellation:local"}
    for name in commands:
        build = services[name]["build"]
        assert build["context"] == str(REPO_ROOT)
        assert build["dockerfile"] == "infra/Dockerfile"
        assert build["target"] == "runtime"
        assert services[name]["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in services[name]["security_opt"]


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


def test_the_proxy_fronts_the_replicas_and_the_operators_services(model):
    proxy = model["services"]["proxy"]
    argv = proxy["command"]
    assert argv[argv.index("--servers") + 1] == "api-1:8000,api-2:8000"
    assert argv[argv.index("--port") + 1] == "8443"
    assert argv[argv.index("--internal-port") + 1] == "8000"
    environment = proxy["environment"]
    assert environment["PROXY_TLS_CERT"] == "/etc/hotel/tls/proxy.pem"
    assert {environment[f"PROXY_{name}_URL"] for name in ("DASHBOARD", "MLFLOW", "AIRFLOW")} == {
        "http://dashboard:8501",
        "http://mlflow:5000",
        "http://airflow-apiserver:8080",
    }
    certificate = next(v for v in proxy["volumes"] if v["target"] == "/etc/hotel/tls/proxy.pem")
    assert certificate["type"] == "bind"
    assert certificate["read_only"] is True
    assert certificate["source"] == str(REPO_ROOT / "infra" / "tls" / "proxy.pem")
    # A missing certificate stops `up` naming the path, instead of mounting an empty folder.
    assert certificate.get("bind", {}).get("create_host_path", False) is False
    # The services it fronts serve under the prefixes it routes.
    assert model["services"]["dashboard"]["command"] == ["dashboard", "--server.baseUrlPath", "dashboard"]


def test_both_api_replicas_are_the_same_service(model):
    first, second = (model["services"][name] for name in sorted(API_REPLICAS))
    assert first == second
