#!/usr/bin/env bash
# Installs what Warmline needs on a fresh Debian/Ubuntu machine: system audio packages and the Python package.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! dpkg -s espeak-ng libespeak-ng1 libportaudio2 sox >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends espeak-ng libespeak-ng1 libportaudio2 sox >/dev/null
fi
# PostgreSQL: the store tests start a throwaway server (initdb + pg_ctl) from these binaries; no cluster is needed.
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
# Chromium for the console's browser tests (Playwright drives the Debian package; it cannot download its own).
if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[dev]'
