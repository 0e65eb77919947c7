#!/usr/bin/env bash
# Install Debian's chromium for the dashboard's browser test, only when it is missing.
# Playwright's own browser download does not work here, so the test drives this binary.
# Runs as root on CI (a fresh machine); elsewhere prefixes apt-get with sudo when available.
set -euo pipefail
# The emoji font renders the dashboard's status dots in screenshots (else empty boxes).
if [ -x /usr/bin/chromium ] && [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then
  echo "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "error: /usr/bin/chromium is missing and we are not root (run: apt-get install -y chromium)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core fonts-noto-color-emoji
/usr/bin/chromium --version
