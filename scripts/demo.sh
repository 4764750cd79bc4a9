#!/usr/bin/env bash
# The demo on a fresh machine: install what the demo needs into .venv, pre-render the prompts, run a scripted Dutch
# call against a local server. PYTHON=/path/to/python3 chooses the interpreter (see scripts/install.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/ivr prompts render
.venv/bin/ivr demo "$@"
