#!/usr/bin/env bash
# The test suite on a fresh machine: install, lint, type-check, then every test (unit, integration with the real
# Korean Vosk model, and a smoke run of the benchmark).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
ruff check ivr tests bench app.py
ruff format --check ivr tests bench app.py
mypy
python3 -m pytest -q -p no:cacheprovider "$@"
