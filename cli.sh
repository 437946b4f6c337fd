#!/usr/bin/env bash
# Hotel cancellation platform: one entry point for every task. `./cli.sh help` lists them.
#
# A thin dispatcher: each command is a function `cmd_<name>` preceded by a `#: ` line (its usage
# and one-line description, which `help` prints). Paths come from this script's location, never
# from the current directory; relative paths a user passes are taken from where they called us.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CALLER_PWD="$PWD"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
export UV_PROJECT_ENVIRONMENT="$VENV"
export DVC_NO_ANALYTICS=1
# Trust the machine's certificate store (corporate proxies, private CAs), as pip and curl do.
export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}"
# Installed packages come with their bytecode: where Python may not write it (PYTHONDONTWRITEBYTECODE,
# read-only images) every command would otherwise compile MLflow & co. from source at each start.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"  # XGBoost on shared cores: see data_science/__init__.py
export UV_COMPILE_BYTECODE="${UV_COMPILE_BYTECODE:-1}"
COMPONENTS=(api data_science data_engineering streamlit_apps infra scripts)
TYPED_COMPONENTS=(api data_science data_engineering streamlit_apps)  # mypy ([tool.mypy] in pyproject.toml)

die() { echo "cli.sh: $*" >&2; exit 1; }
usage_error() {
  echo "cli.sh: $1" >&2
  echo "usage: ./cli.sh COMMAND [ARGS...]   (./cli.sh help lists the commands)" >&2
  exit 2
}
abspath() { case "$1" in /* | http://* | https://*) echo "$1" ;; *) echo "$CALLER_PWD/$1" ;; esac; }
# A hotel group's own vocabulary file: a relative path is taken from where we were called, as any
# path a user gives (the Python side, run from other folders, must see it absolute).
if [ -n "${HOTEL_VOCABULARY:-}" ]; then
  HOTEL_VOCABULARY="$(abspath "$HOTEL_VOCABULARY")"
  export HOTEL_VOCABULARY
fi

# ------------------------------------------------------------------ environment
ensure_uv() {
  if command -v uv >/dev/null 2>&1; then
    UV="$(command -v uv)"
  elif [ -x "$ROOT/.tools/uv/bin/uv" ]; then
    UV="$ROOT/.tools/uv/bin/uv"
  else
    echo "cli.sh: installing uv (once) into .tools/uv" >&2
    python3 -m venv "$ROOT/.tools/uv" || die "python3 -m venv failed: install Python 3.11 with venv"
    "$ROOT/.tools/uv/bin/pip" install --quiet --disable-pip-version-check uv || die "pip install uv failed"
    UV="$ROOT/.tools/uv/bin/uv"
  fi
}

# Create or update .venv from uv.lock (a no-op taking ~0.1 s when nothing changed). Every command
# that runs Python calls it first, so a bad HOTEL_VOCABULARY stops here in one line.
ensure_env() {
  if [ -n "${HOTEL_VOCABULARY:-}" ] && [ ! -f "$HOTEL_VOCABULARY" ]; then
    die "HOTEL_VOCABULARY=$HOTEL_VOCABULARY is not a file (derive one from a bookings export: ./cli.sh vocabulary FILE --write PATH)"
  fi
  if [ "${HOTEL_SKIP_SYNC:-0}" != 1 ] || [ ! -x "$PY" ]; then
    ensure_uv
    # The optional spark group (./cli.sh sync --spark) stays once installed: a plain sync would
    # remove what the lock's default groups do not list.
    local groups=()
    if [ "${HOTEL_SYNC_SPARK:-0}" = 1 ] || compgen -G "$VENV/lib/python3*/site-packages/pyspark" >/dev/null; then
      groups=(--group spark)
    fi
    (cd "$ROOT" && "$UV" sync --locked --quiet --python 3.11 ${groups[@]+"${groups[@]}"}) \
      || die "uv sync failed (is uv.lock in step with pyproject.toml?)"
  fi
  check_vocabulary
}

# The column spec reads the vocabulary when it is imported, where a malformed file would end in a
# traceback: read it once here (~0.1 s, only when HOTEL_VOCABULARY is set) and say what is wrong.
check_vocabulary() {
  [ -n "${HOTEL_VOCABULARY:-}" ] || return 0
  local problem
  if ! problem="$(cd "$ROOT" && "$PY" -c 'import data_engineering.src.schema' 2>&1)"; then
    local reason
    reason="$(printf '%s\n' "$problem" | sed -n 's/^.*VocabularyFileError: //p' | tail -n 1)"
    die "HOTEL_VOCABULARY: ${reason:-$(printf '%s\n' "$problem" | tail -n 1)}"
  fi
}

# Tools that pin versions the platform must not share live in environments of their own, each
# synced from its lock file: ensure_locked_env VENV PROJECT_DIR EXECUTABLE DESCRIPTION.
ensure_locked_env() {
  [ "${HOTEL_SKIP_SYNC:-0}" = 1 ] && [ -x "$1/bin/$3" ] && return 0
  ensure_uv
  (cd "$ROOT" && UV_PROJECT_ENVIRONMENT="$1" "$UV" sync --locked --quiet --python 3.11 --project "$2") \
    || die "uv sync of $4 failed ($2/uv.lock)"
}

# Airflow (its pins include FastAPI's), and moto's AWS emulator for the tests (its server pins Flask).
AIRFLOW_VENV="$ROOT/.venv-airflow"
MOTO_VENV="$ROOT/.venv-moto"
ensure_airflow_env() { ensure_locked_env "$AIRFLOW_VENV" infra/airflow airflow "the Airflow environment"; }
ensure_moto_env() { ensure_locked_env "$MOTO_VENV" infra/moto moto_server "the AWS emulator's environment"; }

# Local Airflow: state under .local/airflow, DAGs from infra/airflow/dags, no examples (the database:
# SQLite, or PostgreSQL with --executor celery; see start-airflow).
airflow_env() {
  export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.local/airflow}"
  export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/infra/airflow/dags"
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export HOTEL_REPO="$ROOT"
  # `airflow standalone` starts its components as `airflow ...` subprocesses found on PATH.
  export PATH="$AIRFLOW_VENV/bin:$PATH"
  mkdir -p "$AIRFLOW_HOME"
}

# `--env ENV` selects the database recorded by `setup-db ENV`; it becomes APP_ENV for Python.
take_env_flag() {
  ARGS=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --env) [ $# -ge 2 ] || usage_error "--env needs a value (prod, local or test)"; export APP_ENV="$2"; shift 2 ;;
      --env=*) export APP_ENV="${1#--env=}"; shift ;;
      *) ARGS+=("$1"); shift ;;
    esac
  done
  case "${APP_ENV:-}" in "" | prod | local | test) ;; *) usage_error "unknown environment '$APP_ENV' (expected prod, local or test)" ;; esac
}

# `[--port P]` as the only option of a command: prints P (or the default), exits 2 otherwise.
port_option() {
  local command="$1" port="$2"
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) [ $# -ge 2 ] || usage_error "--port needs a value"; port="$2"; shift 2 ;;
      *) usage_error "unknown argument '$1' for $command" ;;
    esac
  done
  [[ "$port" =~ ^[0-9]+$ ]] || usage_error "--port must be a number"
  echo "$port"
}

# Paths users set in variables mean "relative to where I am", as any path argument: NAME...
absolutize_paths() {
  local name
  for name in "$@"; do
    if [ -n "${!name:-}" ]; then
      export "$name=$(abspath "${!name}")"
    fi
  done
}

absolutize_source() { absolutize_paths HOTEL_BOOKINGS_SOURCE; }

# ------------------------------------------------------------------ commands
#: help | list the commands
cmd_help() {
  echo "usage: ./cli.sh COMMAND [ARGS...]"
  echo
  echo "commands:"
  sed -n 's/^#: \(.*\) | \(.*\)$/\1\t\2/p' "${BASH_SOURCE[0]}" \
    | awk -F'\t' '{ printf "  %-58s %s\n", $1, $2 }'
  echo
  echo "Details, arguments and exit codes: CLI_DOCS.md"
}

#: sync [--airflow] [--spark] | create or update .venv from uv.lock (--spark: with pyspark, for --engine spark; --airflow: .venv-airflow too)
cmd_sync() {
  local airflow=0 arg
  for arg in "$@"; do
    case "$arg" in
      --airflow) airflow=1 ;;
      --spark) export HOTEL_SYNC_SPARK=1 ;;
      *) usage_error "unknown argument '$arg' for sync (expected --airflow, --spark)" ;;
    esac
  done
  ensure_env
  echo "environment ready: $VENV ($("$PY" --version))"
  if [ "${HOTEL_SYNC_SPARK:-0}" = 1 ]; then
    local java="none found: install a Java 17 runtime (Debian: apt-get install openjdk-17-jre-headless)"
    command -v java >/dev/null 2>&1 && java="$(java -version 2>&1 | head -n 1)"
    echo "pyspark $("$PY" -c 'import pyspark; print(pyspark.__version__)') installed for --engine spark; Java: $java"
  fi
  if [ "$airflow" = 1 ]; then
    ensure_airflow_env
    echo "Airflow environment ready: $AIRFLOW_VENV ($("$AIRFLOW_VENV/bin/airflow" version 2>/dev/null | tail -n 1))"
  fi
}

#: setup-db [prod|local|test] [start|stop|status] | start PostgreSQL for an environment (prints DATABASE_URL=...)
cmd_setup_db() {
  [ $# -le 2 ] || usage_error "setup-db takes at most 2 arguments"
  bash "$ROOT/scripts/setup_db.sh" "$@"
}

#: teardown-db [prod|local|test] | stop an environment's PostgreSQL (its data is kept)
cmd_teardown_db() {
  [ $# -le 1 ] || usage_error "teardown-db takes at most 1 argument"
  bash "$ROOT/scripts/setup_db.sh" "${1:-local}" stop
}

#: initialize-data [VERSION] [csv|db] [--env ENV] [--allow-shrink] | ingest, validate, transform and write the bookings
cmd_initialize_data() {
  take_env_flag "$@"
  absolutize_source
  ensure_env
  "$PY" -m data_engineering.src.initialize_data ${ARGS[@]+"${ARGS[@]}"}
}

#: dvc-init-pipeline | the main job: sync, dvc init if needed, dvc repro, register the model, print metrics and the champion
cmd_dvc_init_pipeline() {
  [ $# -eq 0 ] || usage_error "dvc-init-pipeline takes no arguments (configure it in params.yaml)"
  absolutize_source
  ensure_env
  cd "$ROOT"
  export PATH="$VENV/bin:$PATH"  # dvc.yaml runs `python -m ...` from this environment
  if [ ! -f "$ROOT/.dvc/config" ]; then
    dvc init --quiet $( [ -d "$ROOT/.git" ] || echo --no-scm )
    dvc config core.analytics false
  fi
  local started=$SECONDS
  dvc repro || die "dvc repro failed (see the stage output above)"
  echo
  echo "== pipeline finished in $((SECONDS - started))s =="
  # The stages only compute; registering is its own step, so outputs DVC restored from its cache
  # reach a new or emptied registry too (and a model already there is not registered twice).
  "$PY" -m data_science.register || die "registering the model failed (see above)"
  "$PY" -m data_science.summary
}

#: register | log the pipeline's model to MLflow and register it (once: a model already registered is skipped); the gate moves `champion`
cmd_register() {
  [ $# -eq 0 ] || usage_error "register takes no arguments (it registers what dvc repro produced)"
  ensure_env
  cd "$ROOT"  # as a module from the root: this checkout's packages, whatever is installed
  "$PY" -m data_science.register
}

#: dvc-repro [STAGE] | run one pipeline stage alone (what Airflow's tasks call), or the whole pipeline
cmd_dvc_repro() {
  [ $# -le 1 ] || usage_error "dvc-repro takes at most one stage"
  absolutize_source
  ensure_env
  cd "$ROOT"  # as a module from the root: this checkout's packages, whatever is installed
  local stages
  stages="$("$PY" -m data_engineering.src.dvc_stages)" || die "cannot read the stages of dvc.yaml"
  if [ $# -eq 1 ] && [[ " $stages " != *" $1 "* ]]; then
    usage_error "unknown stage '$1' (stages: $stages)"
  fi
  export PATH="$VENV/bin:$PATH"
  if [ $# -eq 1 ]; then dvc repro --single-item "$1"; else dvc repro; fi
}

#: dvc ARGS... | DVC from the project's environment, in the repository (e.g. dvc metrics show, dvc status)
cmd_dvc() {
  [ $# -gt 0 ] || usage_error "dvc needs a DVC command (e.g. ./cli.sh dvc metrics show)"
  ensure_env
  cd "$ROOT"
  export PATH="$VENV/bin:$PATH"  # stages run `python -m ...` from this environment
  exec "$VENV/bin/dvc" "$@"
}

#: tune [--trials N] [--timeout S] [--folds K] [--write] | search the booster's settings (Optuna, nested backtest); --write sets params.yaml
cmd_tune() {
  ensure_env
  "$PY" -m data_science.tune "$@"
}

#: holdout-check [--months N] [--json FILE] [--why TEXT] [--ledger FILE] | hold out the newest months, train on the rest, score them: held-out vs backtest vs plain XGBoost
cmd_holdout_check() {
  ensure_env
  "$PY" "$ROOT/scripts/holdout_check.py" "$@"
}

#: pipeline-summary | print the latest metrics and which registered version is champion
cmd_pipeline_summary() {
  [ $# -eq 0 ] || usage_error "pipeline-summary takes no arguments"
  ensure_env
  "$PY" -m data_science.summary
}

#: retrain-record [--run-id ID] | link a retraining run's dvc.lock hashes to its MLflow run (reports/retraining/ID.json)
cmd_retrain_record() {
  ensure_env
  cd "$ROOT"  # as a module from the root: the project's packages of this checkout, whatever is installed
  "$PY" -m scripts.retrain_record "$@"
}

#: dvc-push | push the pipeline's data and models to the default DVC remote (none configured: says so)
cmd_dvc_push() {
  [ $# -eq 0 ] || usage_error "dvc-push takes no arguments (dvc remote add -d NAME URL picks the remote)"
  ensure_env
  cd "$ROOT"
  local remote
  remote="$("$VENV/bin/dvc" config core.remote 2>/dev/null || true)"
  if [ -z "$remote" ]; then
    echo "dvc-push: no default DVC remote configured: nothing pushed"
    return 0
  fi
  "$VENV/bin/dvc" push || die "dvc push to remote '$remote' failed"
  echo "dvc-push: pushed to remote '$remote'"
}

#: score-db [--env ENV] [--as-of YYYY-MM-DD] [--model-uri URI] [--engine python|spark] [--spark-master URL] | re-score the loaded bookings on the books as of a day (default today) into booking_scores
cmd_score_db() {
  take_env_flag "$@"
  ensure_env
  "$PY" -m data_science.score_db ${ARGS[@]+"${ARGS[@]}"}
}

#: predict-batch INPUT OUTPUT [--as-of YYYY-MM-DD] [--model-uri URI] [--engine python|spark] [--spark-master URL] | score a CSV or Parquet file of bookings with the champion (or URI), as of their booking date or a given day
cmd_predict_batch() {
  [ $# -ge 2 ] || usage_error "predict-batch needs INPUT and OUTPUT (CSV or Parquet files)"
  local input output
  input="$(abspath "$1")"
  output="$(abspath "$2")"
  shift 2
  ensure_env
  "$PY" -m data_science.predict_batch "$input" "$output" "$@"
}

#: forecast [IN.csv] OUT.csv --as-of YYYY-MM-DD [--horizon-days N] [--env ENV] [--model-uri URI] | cancellations per hotel and night among the bookings on the books (IN.csv, or the database's), with overbooking advice
cmd_forecast() {
  local files=() rest=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --env | --env=*) rest+=("$1"); [ "$1" = --env ] && [ $# -ge 2 ] && { rest+=("$2"); shift; }; shift ;;
      --as-of | --horizon-days | --model-uri) [ $# -ge 2 ] || usage_error "$1 needs a value"; rest+=("$1" "$2"); shift 2 ;;
      -*) rest+=("$1"); shift ;;
      *) files+=("$(abspath "$1")"); shift ;;
    esac
  done
  [ ${#files[@]} -ge 1 ] || usage_error "forecast needs OUT.csv (and optionally IN.csv before it)"
  take_env_flag ${rest[@]+"${rest[@]}"}
  ensure_env
  "$PY" -m data_science.forecast_command "${files[@]}" ${ARGS[@]+"${ARGS[@]}"}
}

#: estimate-performance IN.csv [--as-of YYYY-MM-DD] [--json OUT.json] [--model-uri URI] | the model's ROC AUC, cancellation rate, precision and recall on bookings without outcomes, estimated from its probabilities
cmd_estimate_performance() {
  [ $# -ge 1 ] || usage_error "estimate-performance needs IN.csv"
  local args=() json=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --json) [ $# -ge 2 ] || usage_error "--json needs a file"; args+=(--json "$(abspath "$2")"); shift 2 ;;
      --as-of | --model-uri) [ $# -ge 2 ] || usage_error "$1 needs a value"; args+=("$1" "$2"); shift 2 ;;
      -*) args+=("$1"); shift ;;
      *) args+=("$(abspath "$1")"); shift ;;
    esac
  done
  ensure_env
  "$PY" -m data_science.estimate_command "${args[@]}"
}

#: vocabulary FILE [--write PATH] | categorical values and counts of a bookings CSV(.gz); --write saves the YAML
cmd_vocabulary() {
  local file="" write=()
  while [ $# -gt 0 ]; do
    case "$1" in
      --write) [ $# -ge 2 ] || usage_error "--write needs a PATH"; write=(--write "$(abspath "$2")"); shift 2 ;;
      --write=*) write=(--write "$(abspath "${1#--write=}")"); shift ;;
      -*) usage_error "unknown option '$1' for vocabulary" ;;
      *) [ -z "$file" ] || usage_error "vocabulary takes one FILE"; file="$(abspath "$1")"; shift ;;
    esac
  done
  [ -n "$file" ] || usage_error "vocabulary needs FILE (a bookings CSV or CSV.gz with a header row)"
  ensure_env
  "$PY" -m data_engineering.src.vocabulary "$file" ${write[@]+"${write[@]}"}
}

#: start-mlflow-ui [--port P] | MLflow UI on 127.0.0.1:5000 over the pipeline's tracking store
cmd_start_mlflow_ui() {
  ensure_env
  exec "$PY" -m data_science.mlflow_ui "$@"
}

#: dashboard [--port P] [--env ENV] | Streamlit dashboards on 127.0.0.1:8501 over the read-only database role
cmd_dashboard() {
  take_env_flag "$@"
  local port
  port="$(port_option dashboard 8501 ${ARGS[@]+"${ARGS[@]}"})" || exit 2
  ensure_env
  cd "$ROOT"
  echo "dashboards on http://127.0.0.1:$port (the sidebar names the database they read); Ctrl-C stops them"
  # `streamlit run` puts the script's folder on sys.path, not the root: the packages must be this
  # checkout's, not those of whichever checkout .venv was installed from.
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  # STREAMLIT_SERVER_ADDRESS (Streamlit's own variable) lets a container listen beyond loopback.
  exec "$VENV/bin/streamlit" run "$ROOT/streamlit_apps/app.py" --server.headless true \
    --server.address "${STREAMLIT_SERVER_ADDRESS:-127.0.0.1}" --server.port "$port" \
    --browser.gatherUsageStats false --client.toolbarMode viewer
}

#: start-airflow [--port P] [--executor local|celery] | Airflow 3 on 127.0.0.1 sized for this machine (celery: + Redis and a Celery worker); Ctrl-C stops it all
cmd_start_airflow() {
  local port=8080 executor=local
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) [ $# -ge 2 ] || usage_error "--port needs a value"; port="$2"; shift 2 ;;
      --port=*) port="${1#--port=}"; shift ;;
      --executor) [ $# -ge 2 ] || usage_error "--executor needs a value (local or celery)"; executor="$2"; shift 2 ;;
      --executor=*) executor="${1#--executor=}"; shift ;;
      *) usage_error "unknown argument '$1' for start-airflow" ;;
    esac
  done
  [[ "$port" =~ ^[0-9]+$ ]] || usage_error "--port must be a number"
  case "$executor" in local | celery) ;; *) usage_error "unknown executor '$executor' (expected local or celery)" ;; esac
  if [ "$executor" = celery ] && ! command -v redis-server >/dev/null 2>&1; then
    die "redis-server is not installed: apt-get install redis-server (Debian's package), or use --executor local"
  fi
  ensure_env
  ensure_airflow_env
  airflow_env
  export AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT="$port"
  # Tasks report to the api-server's execution API at BASE_URL/execution/ (default port 8080).
  export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://127.0.0.1:$port}"
  [ "$executor" = local ] || [ -n "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ] || airflow_postgres
  echo "Airflow on http://127.0.0.1:$port, $executor executor (state in $AIRFLOW_HOME; the admin password is printed below and saved there)"
  exec "$AIRFLOW_VENV/bin/python" "$ROOT/infra/airflow/launch.py" start --port "$port" --executor "$executor"
}

# The CeleryExecutor cannot keep Airflow's metadata in SQLite: the `airflow` database (own role) of
# the environment's PostgreSQL (APP_ENV, default local), which setup-db starts or reuses and records.
airflow_postgres() {
  local env="${APP_ENV:-local}" url
  bash "$ROOT/scripts/setup_db.sh" "$env" start >/dev/null || die "setup-db $env failed (above): Airflow's metadata database is needed for --executor celery"
  url="$(sed -n 's/^AIRFLOW_DATABASE_URL=//p' "$ROOT/.env.$env" | tail -n 1)"
  [ -n "$url" ] || die "setup-db $env recorded no Airflow database: run ./cli.sh setup-db $env with AIRFLOW_DB_PASSWORD set"
  echo "Airflow's metadata: database 'airflow' of setup-db $env (.env.$env)"
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$url"
}

#: stop-airflow | stop the start-airflow of this Airflow home (all its processes, within 30 s)
cmd_stop_airflow() {
  [ $# -eq 0 ] || usage_error "stop-airflow takes no arguments (AIRFLOW_HOME selects the Airflow)"
  ensure_airflow_env
  airflow_env
  exec "$AIRFLOW_VENV/bin/python" "$ROOT/infra/airflow/launch.py" stop
}

#: airflow [ARGS...] | run the airflow CLI in its environment (e.g. airflow dags test hotel_retrain)
cmd_airflow() {
  ensure_env
  ensure_airflow_env
  airflow_env
  "$AIRFLOW_VENV/bin/airflow" "$@"
}

#: stack [up|down|ps|logs] [ARGS...] | the docker compose stack (infra/docker-compose.yml, variables from infra/.env)
cmd_stack() {
  local action="${1:-up}"
  [ $# -gt 0 ] && shift
  case "$action" in up | down | ps | logs) ;; *) usage_error "unknown stack action '$action' (expected up, down, ps or logs)" ;; esac
  local env_file="$ROOT/infra/.env"
  [ -f "$env_file" ] || die "infra/.env is missing: cp infra/.env.example infra/.env and replace every change-me (infra/README.md)"
  if grep -q '=change-me$' "$env_file"; then die "infra/.env still holds change-me placeholders"; fi
  command -v docker >/dev/null 2>&1 || die "docker is not installed"
  local compose=(docker compose -f "$ROOT/infra/docker-compose.yml" --env-file "$env_file")
  case "$action" in
    up) "${compose[@]}" up -d "$@" ;;
    down) "${compose[@]}" down "$@" ;;
    ps) "${compose[@]}" ps --all "$@" ;;
    logs) "${compose[@]}" logs "$@" ;;
  esac
}

#: docker-check [PYTEST_ARGS...] | build the image on a Debian-made base, run the compose stack with host networking, train, predict
cmd_docker_check() {
  ensure_env
  local engine started=0
  engine="$(bash "$ROOT/scripts/docker_engine.sh" start)" || die "no Docker engine for the check (see above)"
  while IFS='=' read -r key value; do
    case "$key" in
      DOCKER_HOST | DOCKER_CONFIG | HOTEL_DOCKER) export "$key=$value" ;;
      HOTEL_DOCKER_STARTED) started="$value" ;;
    esac
  done <<<"$engine"
  [ "$started" = 1 ] && trap 'bash "$ROOT/scripts/docker_engine.sh" stop' EXIT
  local base
  base="$(bash "$ROOT/scripts/docker_base_images.sh")" || die "the Debian-made base images could not be built"
  HOTEL_PYTHON_IMAGE="$(sed -n 's/^PYTHON_IMAGE=//p' <<<"$base")"
  HOTEL_POSTGRES_IMAGE="$(sed -n 's/^POSTGRES_IMAGE=//p' <<<"$base")"
  export HOTEL_PYTHON_IMAGE HOTEL_POSTGRES_IMAGE
  cd "$ROOT"
  local status=0
  # A cold run builds images for minutes: the whole module may take longer than the default 600 s.
  "$VENV/bin/pytest" infra/e2e -p no:cacheprovider -o timeout=1800 "$@" || status=$?
  return "$status"
}

#: lint [api|data_science|data_engineering|streamlit_apps|infra|scripts|all] | ruff check + ruff format --check + mypy
cmd_lint() {
  [ $# -le 1 ] || usage_error "lint takes at most 1 argument"
  local target="${1:-all}" paths=()
  if [ "$target" = all ]; then
    paths=("${COMPONENTS[@]}" conftest.py tests_support)  # and the test set-up shared by all of them
  else
    [[ " ${COMPONENTS[*]} " == *" $target "* ]] || usage_error "unknown component '$target' (expected: ${COMPONENTS[*]} or all)"
    paths=("$target")
  fi
  ensure_env
  cd "$ROOT"
  local status=0
  "$VENV/bin/ruff" check "${paths[@]}" || status=1
  "$VENV/bin/ruff" format --check "${paths[@]}" || status=1
  local typed=() p
  for p in "${paths[@]}"; do [[ " ${TYPED_COMPONENTS[*]} " == *" $p "* ]] && typed+=("$p"); done
  if [ ${#typed[@]} -gt 0 ]; then
    "$VENV/bin/mypy" "${typed[@]}" || status=1
  fi
  bash -n "$ROOT/cli.sh" "$ROOT"/scripts/*.sh || status=1
  [ "$status" -eq 0 ] && echo "lint: ${paths[*]} clean"
  return "$status"
}

# The tiers every test belongs to (conftest.py's TIERS: one each, by marker, folder or fixtures).
TEST_TIERS=(unit integration e2e model data)

#: test [unit|integration|e2e|model|data|api|data_science|data_engineering|streamlit_apps|infra|scripts|all|fault] [PYTEST_ARGS...] | run the tests: a tier, a component's, all of them (fault: the fault suite, then its table)
cmd_test() {
  local target="${1:-all}"
  [ $# -gt 0 ] && shift
  local paths=() marker=()
  if [ "$target" = all ] || [ "$target" = fault ] || [[ " ${TEST_TIERS[*]} " == *" $target "* ]]; then
    for c in "${COMPONENTS[@]}"; do [ -d "$ROOT/$c/tests" ] && paths+=("$c/tests"); done
  else
    [[ " ${COMPONENTS[*]} " == *" $target "* ]] || usage_error "unknown component '$target' (expected a tier: ${TEST_TIERS[*]}; a component: ${COMPONENTS[*]}; all or fault)"
    [ -d "$ROOT/$target/tests" ] || die "$target has no tests folder"
    paths=("$target/tests")
  fi
  # The fault suite: every test marked `fault`, whatever its component; a tier: its tests.
  [ "$target" = fault ] && marker=(-m fault)
  [[ " ${TEST_TIERS[*]} " == *" $target "* ]] && marker=(-m "$target")
  ensure_env
  # The Airflow tests run the DAGs in Airflow's own environment, the Terraform and S3 tests moto's
  # AWS emulator from its own.
  [[ "$target" =~ ^(all|infra|fault|e2e)$ ]] && ensure_airflow_env && ensure_moto_env
  # Tests that need PostgreSQL use the real server: start the test cluster (idempotent, ~1 s)
  # unless a test database was given. Without one they skip locally and fail under CI.
  if [ -z "${TEST_DATABASE_URL:-}" ] && [[ "$target" =~ ^(all|api|data_engineering|data_science|streamlit_apps|fault|integration|e2e)$ ]]; then
    bash "$ROOT/scripts/setup_db.sh" test start >/dev/null \
      || echo "cli.sh: could not start the test database; PostgreSQL tests will skip (fail under CI)" >&2
  fi
  # A run of every fault case records its figures afresh (the README's table is generated from
  # them): a case deleted since the last run must not linger there.
  local results="${HOTEL_FAULT_RESULTS:-$ROOT/.local/faults}"
  [[ "$target" =~ ^(all|fault)$ ]] && rm -rf "$results"
  cd "$ROOT"
  local status=0
  # The slowest tests are named at the end: where the suite's time goes.
  "$VENV/bin/pytest" "${paths[@]}" ${marker[@]+"${marker[@]}"} --durations=25 "$@" || status=$?
  if [ "$target" = fault ] && [ -d "$results" ]; then
    echo
    "$PY" -m scripts.reliability_table --results "$results" || true
    echo "(./cli.sh reliability-table --write puts this table into README.md)"
  fi
  return "$status"
}

#: reliability-table [--write|--check] | the fault suite's figures (sent, kept, lost per case) as README's Reliability table
cmd_reliability_table() {
  [ $# -le 1 ] || usage_error "reliability-table takes at most one option (--write or --check)"
  case "${1:-}" in "" | --write | --check) ;; *) usage_error "unknown option '$1' for reliability-table" ;; esac
  ensure_env
  cd "$ROOT"
  "$PY" -m scripts.reliability_table --results "${HOTEL_FAULT_RESULTS:-$ROOT/.local/faults}" "$@"
}

#: serve-api [--host H] [--port P] [--workers N] [--access-log] [--require-model|--no-require-model] [--env ENV] | the prediction API (default 127.0.0.1:8000)
cmd_serve_api() {
  take_env_flag "$@"
  absolutize_paths API_KEYS_FILE
  ensure_env
  exec "$PY" -m api.launcher ${ARGS[@]+"${ARGS[@]}"}
}

#: serve-cluster [--replicas N] [--port P] [--host H] [--env ENV] | N API replicas behind HAProxy (health checks, retries on another replica, restarts; TLS and the operators' password with PROXY_*)
cmd_serve_cluster() {
  take_env_flag "$@"
  absolutize_paths API_KEYS_FILE PROXY_TLS_CERT
  ensure_env
  exec "$PY" -m api.cluster ${ARGS[@]+"${ARGS[@]}"}
}

#: db-migrate [--env ENV] | create or update the API's tables (alembic upgrade head)
cmd_db_migrate() {
  take_env_flag "$@"
  ensure_env
  "$PY" -m api.migrate ${ARGS[@]+"${ARGS[@]}"}
}

#: bench-api [--env ENV] [OPTIONS] | our API vs a bare app, MLflow's xgboost flavour and our pyfunc
cmd_bench_api() {
  take_env_flag "$@"
  ensure_env
  export PATH="$VENV/bin:$PATH"  # mlflow models serve --env-manager local runs from this environment
  "$PY" "$ROOT/scripts/bench_api.py" ${ARGS[@]+"${ARGS[@]}"}
}

#: bench-batch [--rows N] [--engine python|spark] [--spark-master URL] [--json FILE] | streamed predict-batch vs pyarrow read_csv + inplace_predict of the same file (and vs --engine spark)
cmd_bench_batch() {
  absolutize_source
  ensure_env
  "$PY" "$ROOT/scripts/bench_batch.py" "$@"
}

#: bench-score-db [--rows N] [--env ENV] | score-db re-scoring N bookings on the books (default 1,000,000) vs COPY out + inplace_predict + COPY in
cmd_bench_score_db() {
  take_env_flag "$@"
  ensure_env
  "$PY" "$ROOT/scripts/bench_score_db.py" ${ARGS[@]+"${ARGS[@]}"}
}

#: bench-db-load [--env ENV] [--repeat N] | time initialize-data v1 db against psql \copy of the same file
cmd_bench_db_load() {
  take_env_flag "$@"
  absolutize_source
  ensure_env
  "$PY" "$ROOT/scripts/bench_db_load.py" ${ARGS[@]+"${ARGS[@]}"}
}

# ------------------------------------------------------------------ dispatch
main() {
  local command="${1:-help}"
  [ $# -gt 0 ] && shift
  case "$command" in -h | --help) command=help ;; esac
  local fn="cmd_${command//-/_}"
  if [[ "$command" =~ ^[a-z][a-z0-9-]*$ ]] && declare -F "$fn" >/dev/null; then
    "$fn" "$@"
  else
    usage_error "unknown command '$command'"
  fi
}

main "$@"
