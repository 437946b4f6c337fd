#!/usr/bin/env bash
# CI-only base images made from Debian packages, for machines that cannot pull from a registry:
#
#   hotel-ci/python:3.11-bookworm    debootstrap'ed Debian 12 + python3.11, pip, ca-certificates;
#                                    stands in for python:3.11-slim-bookworm (PYTHON_IMAGE)
#   hotel-ci/postgres:15-bookworm    that base + Debian's postgresql-15 and infra/ci/postgres's
#                                    entrypoint; stands in for postgres:16 (POSTGRES_IMAGE)
#
# Usage: scripts/docker_base_images.sh   (./cli.sh docker-check runs it). Prints the two names as
# PYTHON_IMAGE=... and POSTGRES_IMAGE=... on stdout (progress on stderr).
# Cached: an image whose label hotel.recipe matches this recipe is reused (~0 s); a missing or
# outdated one is rebuilt (~2 min). The users' defaults stay the official images.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON_BASE="${HOTEL_CI_PYTHON_IMAGE:-hotel-ci/python:3.11-bookworm}"
POSTGRES_BASE="${HOTEL_CI_POSTGRES_IMAGE:-hotel-ci/postgres:15-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DOCKER="${HOTEL_DOCKER:-docker}"

die() { echo "docker-base: $*" >&2; exit 1; }
"$DOCKER" info >/dev/null 2>&1 || die "no Docker engine answers (start one with ./cli.sh docker-engine start)"

# The recipe's fingerprint: this script and the Postgres stand-in's files.
recipe() {
  cat "${BASH_SOURCE[0]}" "$ROOT"/infra/ci/postgres/* | sha256sum | cut -c1-16
}
RECIPE="$(recipe)"
current() { [ "$("$DOCKER" image inspect --format '{{ index .Config.Labels "hotel.recipe" }}' "$1" 2>/dev/null)" = "$RECIPE" ]; }

build_python_base() {
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing (apt-get install -y debootstrap)"
  [ "$(id -u)" -eq 0 ] || die "debootstrap and chroot need root"
  local rootfs
  rootfs="$(mktemp -d /var/tmp/hotel-ci-rootfs.XXXXXX)"
  # shellcheck disable=SC2064
  trap "rm -rf '$rootfs'" RETURN
  echo "docker-base: debootstrap bookworm (about a minute)" >&2
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 \
    || { tail -n 20 "$rootfs.log" >&2; die "debootstrap failed (log: $rootfs.log)"; }
  rm -f "$rootfs.log"
  # python3.11-venv cannot come through debootstrap --include (dependency resolution): apt in a chroot.
  chroot "$rootfs" /bin/bash -euo pipefail -c '
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv python3-pip ca-certificates >/dev/null
    apt-get clean
    rm -rf /var/lib/apt/lists/*
    # The paths of the official python image: /usr/local/bin/python3.11, python3, python, pip.
    for name in python3.11 python3 python; do ln -sf /usr/bin/python3.11 "/usr/local/bin/$name"; done
    ln -sf /usr/bin/pip3 /usr/local/bin/pip
    # Like the official image, pip may install system-wide (PEP 668 marker removed).
    rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED
    # No host name resolution or host-specific state in the image.
    : >/etc/resolv.conf
    : >/etc/hostname
  '
  tar -C "$rootfs" -c . | "$DOCKER" import \
    --change "LABEL hotel.recipe=$RECIPE" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$PYTHON_BASE" >/dev/null
}

build_postgres_base() {
  echo "docker-base: $POSTGRES_BASE from $PYTHON_BASE + Debian's postgresql-15" >&2
  DOCKER_BUILDKIT=1 "$DOCKER" build --quiet --network host \
    --build-arg "BASE_IMAGE=$PYTHON_BASE" --label "hotel.recipe=$RECIPE" \
    -t "$POSTGRES_BASE" "$ROOT/infra/ci/postgres" >/dev/null
}

started=$SECONDS
if current "$PYTHON_BASE"; then
  echo "docker-base: $PYTHON_BASE is current (cached)" >&2
else
  build_python_base
  echo "docker-base: built $PYTHON_BASE" >&2
fi
if current "$POSTGRES_BASE"; then
  echo "docker-base: $POSTGRES_BASE is current (cached)" >&2
else
  build_postgres_base
  echo "docker-base: built $POSTGRES_BASE" >&2
fi
echo "docker-base: ready in $((SECONDS - started))s" >&2
echo "PYTHON_IMAGE=$PYTHON_BASE"
echo "POSTGRES_IMAGE=$POSTGRES_BASE"
