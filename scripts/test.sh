#!/usr/bin/env bash
# The test suite on a fresh machine: install everything the tests need into .venv (and the Debian packages they
# start: PostgreSQL, Redis, HAProxy, Chromium), lint, type-check, then every test (unit, integration with the real
# Korean Vosk model, and a smoke run of the benchmark). PYTHON=/path/to/python3 chooses the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
bin=.venv/bin
"$bin/ruff" check ivr tests bench app.py
"$bin/ruff" format --check ivr tests bench app.py
"$bin/mypy"
"$bin/python" -m pytest -q -p no:cacheprovider "$@"
