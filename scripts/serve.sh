#!/usr/bin/env bash
# Set everything up, then serve the default model on 127.0.0.1:8000 (extra arguments go to
# `qwenchat serve`). With no model pulled, the starter model is fetched on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/qwenchat serve "$@"
