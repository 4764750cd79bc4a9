#!/usr/bin/env bash
# Installs Warmline into a project virtualenv (.venv) on a Debian/Ubuntu machine, and never into the system Python.
#
#   bash scripts/install.sh            what the demo needs: espeak-ng, libespeak-ng1, libportaudio2, sox, the package
#   bash scripts/install.sh --test     plus what the tests need: PostgreSQL, Chromium, Redis, HAProxy, the [dev] extras
#
# PYTHON=/path/to/python3 chooses the interpreter (default: python3 on PATH); older than 3.11 is refused.
# The virtualenv comes from the standard library's venv module (Debian: python3-venv): nothing to download first,
# unlike uv, and a stock machine's distribution Python refuses `pip install` outside a venv (PEP 668).
# A second run with nothing changed does no apt or pip work: the installed set is stamped in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=demo
[ "${1:-}" = "--test" ] && mode=test
PYTHON=${PYTHON:-python3}
VENV=${WARMLINE_VENV:-.venv}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "install: no Python at '$PYTHON': install python3 (3.11 or newer) or set PYTHON=/path/to/python3" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "install: $("$PYTHON" -c 'import sys; print(sys.version.split()[0])') at $PYTHON is too old: Warmline needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

# pip's note for every configured package index folder that a machine lacks is noise here; real errors pass.
quiet_pip() { grep -v -e "is ignored: it is neither a file nor a directory" -e "^DEPRECATION:" || true; }

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_updated=0
# apt_need PACKAGE...: installs those not yet installed (dpkg -s answers in milliseconds when all are there).
apt_need() {
  local missing=()
  local package
  for package in "$@"; do
    dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  export DEBIAN_FRONTEND=noninteractive
  if [ $apt_updated -eq 0 ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  echo "install: apt-get install ${missing[*]}"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The demo: speech out (espeak-ng behind pyttsx3), PortAudio for sounddevice, sox for audio files.
apt_need espeak-ng libespeak-ng1 libportaudio2 sox
if [ "$mode" = test ]; then
  # The tests start throwaway servers from these binaries (no system service is used) and drive Debian's Chromium.
  apt_need postgresql redis-server haproxy chromium
  command -v npm >/dev/null 2>&1 || apt_need npm
fi

# A venv needs ensurepip, which Debian ships apart from its Python (python3-venv / python3.X-venv).
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  version=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  apt_need "python${version}-venv" || apt_need python3-venv
fi

# Recreate the venv when it was made from another interpreter than the one asked for.
want=$("$PYTHON" -c 'import sys; print(sys.base_prefix, sys.version.split()[0])')
if [ -x "$VENV/bin/python" ]; then
  have=$("$VENV/bin/python" -c 'import sys; print(sys.base_prefix, sys.version.split()[0])' 2>/dev/null || true)
  if [ "$have" != "$want" ]; then
    echo "install: $VENV was made from another Python ($have); making it anew from $PYTHON"
    rm -rf "$VENV"
  fi
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "install: creating $VENV from $PYTHON ($want)"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip 2> >(quiet_pip >&2)
fi

extras=""
[ "$mode" = test ] && extras="[dev]"
lock=requirements.lock
stamp="$VENV/.warmline-installed"
inputs=$(cat pyproject.toml $([ -f "$lock" ] && echo "$lock") | sha256sum | cut -c1-16)
# A stamp for the test set also covers the demo set (it is a superset).
if [ -f "$stamp" ] && { grep -qx "$inputs test" "$stamp" || grep -qx "$inputs $mode" "$stamp"; }; then
  exit 0
fi
constraints=()
[ -f "$lock" ] && constraints=(-c "$lock")
echo "install: pip install -e .${extras} into $VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input "${constraints[@]}" -e ".${extras}" \
  2> >(quiet_pip >&2)
echo "$inputs $mode" >"$stamp"
