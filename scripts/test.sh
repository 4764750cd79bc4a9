#!/usr/bin/env bash
# The test suite on a fresh machine: install everything the tests need into .venv (and the Debian packages they
# start: PostgreSQL, Redis, HAProxy, Chromium), lint, type-check, then every test (unit, integration with the real
# Korean Vosk model, and a smoke run of the benchmark). PYTHON=/path/to/python3 chooses the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
# axe-core (npm) checks the console's pages for accessibility problems in the browser test.
AXE_VERSION=4.14.1
if [ "$(cat .tools/axe-version 2>/dev/null)" != "$AXE_VERSION" ]; then
  npm install --silent --no-audit --no-fund --prefix .tools "axe-core@$AXE_VERSION" >/dev/null
  echo "$AXE_VERSION" >.tools/axe-version
fi
bin=.venv/bin
"$bin/ruff" check ivr tests bench app.py
"$bin/ruff" format --check ivr tests bench app.py
"$bin/mypy"
"$bin/python" -m pytest -q -p no:cacheprovider "$@"
