#!/usr/bin/env bash
# Make sure a `docker-compose` that validates compose files offline is on PATH.
#
# The Docker engine is not needed: `docker-compose -f docker-compose.yml config -q` only parses
# and validates. Debian's `docker-compose` package (1.29.2) does that without network access,
# so CI installs it here when missing. Prints the binary path on success.
set -euo pipefail

if command -v docker-compose >/dev/null 2>&1; then
  command -v docker-compose
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "ensure_compose: docker-compose missing and not root; run: apt-get install docker-compose" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q docker-compose >/dev/null 2>&1; then
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q docker-compose >/dev/null
fi
command -v docker-compose
