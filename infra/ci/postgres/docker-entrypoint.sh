#!/usr/bin/env bash
# Entrypoint of the CI stand-in for the official postgres image (see Dockerfile beside it).
# `postgres [ARGS...]`: initialise PGDATA once (superuser POSTGRES_USER with POSTGRES_PASSWORD,
# scram-sha-256 over TCP, trust on the socket), run /docker-entrypoint-initdb.d/* against a
# socket-only server, then exec the server as user postgres. Any other command runs as given.
set -Eeuo pipefail

if [ "${1:-}" != postgres ]; then
  exec "$@"
fi
shift

: "${PGDATA:=/var/lib/postgresql/data}"
POSTGRES_USER="${POSTGRES_USER:-postgres}"

if [ "$(id -u)" -eq 0 ]; then
  install -d -o postgres -g postgres -m 0700 "$PGDATA"
  install -d -o postgres -g postgres -m 2775 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?the postgres stand-in needs POSTGRES_PASSWORD (superuser password)}"
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  # Initialisation against a server that listens on the socket only, as the official image does:
  # a TCP health check turns healthy only once the scripts have run.
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -k /var/run/postgresql" start >/dev/null
  export POSTGRES_USER PGUSER="$POSTGRES_USER" PGHOST=/var/run/postgresql
  for script in /docker-entrypoint-initdb.d/*; do
    case "$script" in
      *.sh) if [ -x "$script" ]; then "$script"; else . "$script"; fi ;;
      *.sql) psql -X -v ON_ERROR_STOP=1 --dbname postgres -f "$script" ;;
      *) [ -e "$script" ] && echo "docker-entrypoint: ignoring $script" ;;
    esac
  done
  unset PGUSER PGHOST
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "docker-entrypoint: PostgreSQL initialised in $PGDATA"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
