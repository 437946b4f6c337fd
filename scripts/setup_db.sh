#!/usr/bin/env bash
# PostgreSQL for one environment: ./cli.sh setup-db [prod|local|test] [start|stop|status]
#
# - With a Docker engine whose `docker compose` works: the `postgres` service of
#   infra/docker-compose.yml (one compose project per environment). Otherwise (no engine, no
#   compose plugin, or the service does not start): a cluster of the installed server binaries
#   (>= 15) under the git-ignored .local/postgres/ENV, listening on 127.0.0.1 only, one port per
#   environment, after a one-line note saying why. SETUP_DB_BACKEND=docker|local forces one
#   (docker then fails instead of falling back).
# - Exits 0 only once a PostgreSQL server accepts connections on 127.0.0.1:PORT.
# - Idempotent: an existing cluster is reused, a stopped one started; the bootstrap (database,
#   application role, read-only role for dashboards) runs every time and changes nothing twice.
# - Records the URLs in the git-ignored .env.ENV; the last line printed is DATABASE_URL=<url>.
# - Also Airflow's metadata database `airflow`, owned by a role of its own (infra/postgres/airflow.sql,
#   as in the compose stack), for `./cli.sh start-airflow --executor celery`: its URL is recorded as
#   AIRFLOW_DATABASE_URL. prod creates it only when AIRFLOW_DB_PASSWORD is given.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_NAME="${1:-local}"
ACTION="${2:-start}"

die() { echo "setup-db: $*" >&2; exit 1; }
usage() { echo "usage: ./cli.sh setup-db [prod|local|test] [start|stop|status]" >&2; exit 2; }

case "$ENV_NAME" in
  prod) DEFAULT_PORT=55434 ;;
  local) DEFAULT_PORT=55432 ;;
  test) DEFAULT_PORT=55433 ;;
  *) echo "setup-db: unknown environment '$ENV_NAME' (expected prod, local or test)" >&2; usage ;;
esac
case "$ACTION" in start|stop|status) ;; *) echo "setup-db: unknown action '$ACTION'" >&2; usage ;; esac

ENV_FILE="$ROOT/.env.$ENV_NAME"
PORT="${POSTGRES_PORT:-$DEFAULT_PORT}"
DB_NAME="${POSTGRES_DB:-hotel}"
APP_USER="${POSTGRES_APP_USER:-hotel_app}"
RO_USER="${POSTGRES_READONLY_USER:-hotel_readonly}"
AIRFLOW_USER="${AIRFLOW_DB_USER:-airflow}"
COMPOSE_FILE="$ROOT/infra/docker-compose.yml"

# A value recorded by an earlier run, so passwords stay stable across runs.
recorded() {
  [ -f "$ENV_FILE" ] || return 0
  sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1
}
new_password() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
urlquote() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

BACKEND="${SETUP_DB_BACKEND:-auto}"
case "$BACKEND" in auto|docker|local) ;; *) die "SETUP_DB_BACKEND must be auto, docker or local (got '$BACKEND')" ;; esac

# Whether docker compose can run the postgres service here; if not, DOCKER_UNAVAILABLE says why.
DOCKER_UNAVAILABLE=""
docker_usable() {
  if ! command -v docker >/dev/null 2>&1; then
    DOCKER_UNAVAILABLE="docker is not installed"
  elif ! timeout 10 docker info >/dev/null 2>&1; then
    DOCKER_UNAVAILABLE="no Docker engine answers (docker info failed)"
  elif ! timeout 10 docker compose version >/dev/null 2>&1; then
    # e.g. Debian's docker.io: `docker compose -f` prints "unknown shorthand flag: 'f' in -f".
    DOCKER_UNAVAILABLE="docker has no compose plugin (docker compose version failed)"
  else
    return 0
  fi
  return 1
}

# The backend of an environment set up before (recorded in .env.ENV), else the one to use now.
recorded_backend() { recorded POSTGRES_BACKEND; }
use_docker() {
  case "$BACKEND" in
    local) return 1 ;;
    docker)
      docker_usable || die "SETUP_DB_BACKEND=docker, but $DOCKER_UNAVAILABLE"
      return 0 ;;
  esac
  docker_usable
}

# True when a PostgreSQL server answers on 127.0.0.1:PORT: its reply to an SSLRequest ('S' or
# 'N') proves it speaks the protocol, with no client binaries needed on this machine.
accepting() {
  python3 - "$PORT" <<'PY'
import socket, struct, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
        s.sendall(struct.pack("!II", 8, 80877103))
        sys.exit(0 if s.recv(1) in (b"S", b"N") else 1)
except OSError:
    sys.exit(1)
PY
}

# ---------------------------------------------------------------- local cluster helpers
find_pg_bin() {
  local candidate version
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")"; do
    [ -x "$candidate/pg_ctl" ] || continue
    version="$("$candidate/pg_ctl" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)?.*/\1/')"
    if [ "$version" -ge 15 ]; then echo "$candidate"; return; fi
  done
  die "no PostgreSQL >= 15 server binaries found (looked in /usr/lib/postgresql/*/bin and PATH); install postgresql-15 or set PG_BIN"
}

# The server refuses to run as root: as root it runs as the `postgres` OS user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs an OS user 'postgres' to own the server"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

cluster_dir() {
  local dir="${POSTGRES_DATA_DIR:-$ROOT/.local/postgres/$ENV_NAME}"
  if [ "$(id -u)" -eq 0 ] && [ -z "${POSTGRES_DATA_DIR:-}" ]; then
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      # The repo sits where the postgres user cannot reach (e.g. under /root): keep the cluster
      # in a folder it can, and leave a link in .local/ so it is easy to find.
      local fallback="/var/tmp/hotel-cancellation-postgres/$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)/$ENV_NAME"
      mkdir -p "$fallback" && chown postgres:postgres "$fallback" "$(dirname "$fallback")"
      chmod 755 "$(dirname "$(dirname "$fallback")")" "$(dirname "$fallback")"
      rmdir "$dir" 2>/dev/null || true
      ln -sfn "$fallback" "$dir"
      dir="$fallback"
    fi
  else
    mkdir -p "$dir"
  fi
  echo "$dir"
}

# The folder of an existing cluster, through the link that cluster_dir may have left (the server's
# user may not be able to follow a link that sits under a folder it cannot read).
existing_cluster_dir() {
  readlink -f "${POSTGRES_DATA_DIR:-$ROOT/.local/postgres/$ENV_NAME}" 2>/dev/null \
    || echo "${POSTGRES_DATA_DIR:-$ROOT/.local/postgres/$ENV_NAME}"
}

local_start() {
  local bin dir
  bin="$(find_pg_bin)"
  dir="$(cluster_dir)"
  [ "${#dir}" -lt 90 ] || die "cluster folder path too long for a Unix socket: $dir (set POSTGRES_DATA_DIR)"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    echo "setup-db: creating a PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') cluster in $dir"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -E UTF8 --no-locale \
      --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  if as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    echo "setup-db: server already running ($dir)"
  elif "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    die "port $PORT is taken by another PostgreSQL server; stop it or choose another port with POSTGRES_PORT=..."
  else
    # Loopback only; the socket lives in the cluster folder, which only the server's user can open.
    # Single-node dev/test clusters: wal_level=minimal lets a table created and loaded in one
    # transaction skip WAL (PostgreSQL's documented bulk-load setting). prod keeps the default
    # (replica) so that WAL archiving and standbys remain possible.
    local options="-p $PORT -k $dir -c listen_addresses=127.0.0.1"
    [ "$ENV_NAME" = prod ] || options="$options -c wal_level=minimal -c max_wal_senders=0"
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$options" start >/dev/null \
      || { tail -n 20 "$dir/server.log" >&2; die "the server did not start (log: $dir/server.log)"; }
  fi
  local tries=0
  until "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || die "server not accepting connections on 127.0.0.1:$PORT after 30s"
    sleep 0.5
  done
  PSQL=("$bin/psql" -X -q -h "$dir" -p "$PORT" -U postgres -d postgres)
  bootstrap() { as_pg "${PSQL[@]}" "$@"; }
}

local_stop() {
  local bin dir
  bin="$(find_pg_bin)"
  dir="$(existing_cluster_dir)"
  if [ -f "$dir/data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    echo "setup-db: $ENV_NAME server stopped (data kept in $dir)"
  else
    echo "setup-db: $ENV_NAME server is not running"
  fi
}

local_status() {
  local bin dir
  bin="$(find_pg_bin)"
  dir="$(existing_cluster_dir)"
  if [ -f "$dir/data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    echo "setup-db: $ENV_NAME server running on 127.0.0.1:$PORT ($dir)"
  else
    echo "setup-db: $ENV_NAME server not running"
    return 3
  fi
}

# ---------------------------------------------------------------- docker compose helpers
compose() {
  docker compose -f "$COMPOSE_FILE" -p "hotel-$ENV_NAME" --env-file "$ENV_FILE" "$@"
}

# Starts the postgres service; returns 1 (with its output shown) when compose cannot.
docker_start() {
  local log
  log="$(mktemp)"
  if ! POSTGRES_PORT="$PORT" compose up -d --wait postgres >"$log" 2>&1; then
    tail -n 5 "$log" >&2
    rm -f "$log"
    compose rm --force --stop postgres >/dev/null 2>&1 || true  # nothing left holding the port
    return 1
  fi
  rm -f "$log"
  bootstrap() { compose exec -T postgres psql -X -q -U postgres -d postgres "$@"; }
}

# ---------------------------------------------------------------- main
if [ "$ACTION" != "start" ]; then
  # stop and status act on the backend that start used.
  if [ "$(recorded_backend)" = docker ]; then
    docker_usable || die "$ENV_NAME runs in docker compose, but $DOCKER_UNAVAILABLE"
    if [ "$ACTION" = stop ]; then compose stop postgres; else compose ps postgres; fi
  elif [ "$ACTION" = stop ]; then
    local_stop
  else
    local_status
  fi
  exit 0
fi

if [ "$ENV_NAME" = prod ]; then
  APP_PASSWORD="${POSTGRES_PASSWORD:-}"
  RO_PASSWORD="${POSTGRES_READONLY_PASSWORD:-}"
  [ -n "$APP_PASSWORD" ] && [ -n "$RO_PASSWORD" ] || die \
    "prod needs its passwords from the environment: set POSTGRES_PASSWORD (application role) and POSTGRES_READONLY_PASSWORD (dashboards' read-only role)"
  AIRFLOW_PASSWORD="${AIRFLOW_DB_PASSWORD:-}"
else
  APP_PASSWORD="${POSTGRES_PASSWORD:-$(recorded POSTGRES_APP_PASSWORD)}"
  RO_PASSWORD="${POSTGRES_READONLY_PASSWORD:-$(recorded POSTGRES_READONLY_PASSWORD)}"
  [ -n "$APP_PASSWORD" ] || APP_PASSWORD="$(new_password)"
  [ -n "$RO_PASSWORD" ] || RO_PASSWORD="$(new_password)"
  AIRFLOW_PASSWORD="${AIRFLOW_DB_PASSWORD:-$(recorded AIRFLOW_DB_PASSWORD)}"
  [ -n "$AIRFLOW_PASSWORD" ] || AIRFLOW_PASSWORD="$(new_password)"
fi
SUPER_PASSWORD="$(recorded POSTGRES_SUPERUSER_PASSWORD)"
[ -n "$SUPER_PASSWORD" ] || SUPER_PASSWORD="$(new_password)"

APP_URL="postgresql+psycopg://$APP_USER:$(urlquote "$APP_PASSWORD")@127.0.0.1:$PORT/$DB_NAME"
RO_URL="postgresql+psycopg://$RO_USER:$(urlquote "$RO_PASSWORD")@127.0.0.1:$PORT/$DB_NAME"
AIRFLOW_URL=""
[ -z "$AIRFLOW_PASSWORD" ] || AIRFLOW_URL="postgresql+psycopg://$AIRFLOW_USER:$(urlquote "$AIRFLOW_PASSWORD")@127.0.0.1:$PORT/airflow"

write_env_file() {
  local tmp
  tmp="$(mktemp "$ROOT/.env.$ENV_NAME.XXXXXX")"
  chmod 600 "$tmp"
  {
    echo "# Written by ./cli.sh setup-db $ENV_NAME. Git-ignored: it holds passwords."
    echo "APP_ENV=$ENV_NAME"
    echo "POSTGRES_BACKEND=$STARTED_BACKEND"
    echo "POSTGRES_PORT=$PORT"
    echo "POSTGRES_DB=$DB_NAME"
    echo "POSTGRES_SUPERUSER_PASSWORD=$SUPER_PASSWORD"
    echo "POSTGRES_APP_USER=$APP_USER"
    echo "POSTGRES_APP_PASSWORD=$APP_PASSWORD"
    echo "POSTGRES_READONLY_USER=$RO_USER"
    echo "POSTGRES_READONLY_PASSWORD=$RO_PASSWORD"
    echo "DATABASE_URL=$APP_URL"
    echo "DATABASE_URL_READONLY=$RO_URL"
    if [ -n "$AIRFLOW_URL" ]; then
      echo "AIRFLOW_DB_USER=$AIRFLOW_USER"
      echo "AIRFLOW_DB_PASSWORD=$AIRFLOW_PASSWORD"
      echo "AIRFLOW_DATABASE_URL=$AIRFLOW_URL"
    fi
  } >"$tmp"
  mv "$tmp" "$ENV_FILE"
}
STARTED_BACKEND=local
if use_docker; then
  # compose reads the passwords from this file, so it is written before the server starts.
  STARTED_BACKEND=docker
  write_env_file
  echo "setup-db: Docker engine found: starting the postgres service of infra/docker-compose.yml"
  if ! docker_start; then
    [ "$BACKEND" = docker ] && die "docker compose could not start the postgres service (SETUP_DB_BACKEND=docker)"
    echo "setup-db: note: docker compose could not start postgres (output above); using a local cluster instead" >&2
    STARTED_BACKEND=local
  fi
elif [ "$BACKEND" = auto ] && [ "$DOCKER_UNAVAILABLE" != "docker is not installed" ]; then
  echo "setup-db: note: $DOCKER_UNAVAILABLE; using a local cluster of the installed PostgreSQL" >&2
fi
[ "$STARTED_BACKEND" = docker ] || local_start
accepting || die "no server accepts connections on 127.0.0.1:$PORT"

# Variables go in on stdin (\set), not as arguments: passwords never show up in `ps`.
psql_vars() {
  local pair value
  for pair in "$@"; do
    value="${pair#*=}"
    printf "\\set %s '%s'\n" "${pair%%=*}" "${value//\'/\'\'}"
  done
}
{
  psql_vars "db=$DB_NAME" "app_user=$APP_USER" "app_password=$APP_PASSWORD" \
    "ro_user=$RO_USER" "ro_password=$RO_PASSWORD"
  cat "$ROOT/infra/postgres/bootstrap.sql"
} | bootstrap >/dev/null || die "bootstrap of database '$DB_NAME' failed"
if [ -n "$AIRFLOW_PASSWORD" ]; then
  { psql_vars "airflow_user=$AIRFLOW_USER" "airflow_password=$AIRFLOW_PASSWORD"; cat "$ROOT/infra/postgres/airflow.sql"; } \
    | bootstrap >/dev/null || die "bootstrap of Airflow's database 'airflow' failed"
fi

[ "$STARTED_BACKEND" = docker ] || write_env_file  # only once the server really holds these passwords
airflow_note=""
[ -z "$AIRFLOW_URL" ] || airflow_note=", Airflow's metadata database 'airflow' (role '$AIRFLOW_USER')"
echo "setup-db: $ENV_NAME ready on 127.0.0.1:$PORT: database '$DB_NAME', roles '$APP_USER' (read-write) and '$RO_USER' (read-only)$airflow_note; URLs in .env.$ENV_NAME"
# The settings take local as the default environment once this file exists (settings.py).
[ "$ENV_NAME" != local ] || echo "setup-db: local is now the default database of this checkout's commands (no --env needed; --env or DATABASE_URL choose another)"
echo "DATABASE_URL=$APP_URL"
