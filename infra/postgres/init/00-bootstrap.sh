#!/usr/bin/env bash
# Creates or updates the platform's databases and roles in the compose `postgres` service.
#
# Runs in two places, with the same (idempotent) effect:
# - on the first start of an empty data volume, from /docker-entrypoint-initdb.d: the postgres
#   image's entrypoint runs it against its temporary, socket-only server, as the superuser;
# - on every `docker compose up` of the stack, as the one-shot `db-bootstrap` service (PGHOST,
#   PGUSER and PGPASSWORD point it at the running server), so that roles added later (Airflow's) and
#   passwords changed in infra/.env also reach a volume that was initialised before.
#
# Steps:
# 1. infra/postgres/bootstrap.sql (mounted at $BOOTSTRAP_SQL): the application database, the
#    `mlflow` database, the read-write application role and the dashboards' read-only role;
# 2. when AIRFLOW_DB_PASSWORD is set: infra/postgres/airflow.sql (at $AIRFLOW_SQL, default beside
#    bootstrap.sql), Airflow's metadata database `airflow` owned by its own role, so that neither
#    application role can read Airflow's connections and variables;
# 3. no role but the owner (and the superuser) may connect to the `mlflow` and `airflow` databases.
#
# Environment: POSTGRES_APP_DB (default hotel), POSTGRES_APP_USER (hotel_app),
# POSTGRES_APP_PASSWORD (required), POSTGRES_READONLY_USER (hotel_readonly),
# POSTGRES_READONLY_PASSWORD (required), AIRFLOW_DB_USER (airflow), AIRFLOW_DB_PASSWORD (optional),
# BOOTSTRAP_SQL (/etc/hotel/bootstrap.sql), AIRFLOW_SQL (airflow.sql beside it). Connection: the
# libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD); without them, the local socket as
# $POSTGRES_USER (the image's superuser).
set -Eeuo pipefail

BOOTSTRAP_SQL="${BOOTSTRAP_SQL:-/etc/hotel/bootstrap.sql}"
AIRFLOW_SQL="${AIRFLOW_SQL:-$(dirname "$BOOTSTRAP_SQL")/airflow.sql}"
APP_DB="${POSTGRES_APP_DB:-hotel}"
APP_USER="${POSTGRES_APP_USER:-hotel_app}"
RO_USER="${POSTGRES_READONLY_USER:-hotel_readonly}"
AIRFLOW_USER="${AIRFLOW_DB_USER:-airflow}"
: "${POSTGRES_APP_PASSWORD:?POSTGRES_APP_PASSWORD must be set (infra/.env)}"
: "${POSTGRES_READONLY_PASSWORD:?POSTGRES_READONLY_PASSWORD must be set (infra/.env)}"
[ -r "$BOOTSTRAP_SQL" ] || { echo "00-bootstrap: $BOOTSTRAP_SQL is not readable" >&2; exit 1; }

log() { echo "00-bootstrap: $*"; }

run_psql() {
  psql -X -q -v ON_ERROR_STOP=1 --username "${PGUSER:-${POSTGRES_USER:-postgres}}" --dbname postgres
}

# psql variables go in on stdin (\set), never as arguments, so passwords stay out of `ps` output.
psql_vars() {
  local pair value
  for pair in "$@"; do
    value="${pair#*=}"
    printf "\\set %s '%s'\n" "${pair%%=*}" "${value//\'/\'\'}"
  done
}

log "database '$APP_DB', roles '$APP_USER' (read-write) and '$RO_USER' (read-only)"
{
  psql_vars "db=$APP_DB" "app_user=$APP_USER" "app_password=$POSTGRES_APP_PASSWORD" \
    "ro_user=$RO_USER" "ro_password=$POSTGRES_READONLY_PASSWORD"
  cat "$BOOTSTRAP_SQL"
} | run_psql

if [ -n "${AIRFLOW_DB_PASSWORD:-}" ]; then
  [ -r "$AIRFLOW_SQL" ] || { echo "00-bootstrap: $AIRFLOW_SQL is not readable" >&2; exit 1; }
  log "database 'airflow', role '$AIRFLOW_USER'"
  {
    psql_vars "airflow_user=$AIRFLOW_USER" "airflow_password=$AIRFLOW_DB_PASSWORD"
    cat "$AIRFLOW_SQL"
  } | run_psql
else
  log "AIRFLOW_DB_PASSWORD not set: no Airflow database (needed only by the compose profile 'airflow')"
fi

# Databases are open to PUBLIC by default; keep each one to its owner.
run_psql <<'SQL'
\set ON_ERROR_STOP on
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', datname)
  FROM pg_database WHERE datname IN ('mlflow', 'airflow') \gexec
SQL
log "done"
