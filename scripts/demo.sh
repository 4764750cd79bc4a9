#!/usr/bin/env bash
# The demo on a fresh machine: install, pre-render the prompts, run a scripted Dutch call against a local server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
ivr prompts render
ivr demo "$@"
