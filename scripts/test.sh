#!/usr/bin/env bash
# Set everything up, then run the checks CI runs: lint (ruff), typing (mypy --strict),
# import layers (import-linter) and the test suite (pytest) against the real engine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/qwenchat pull starter
.venv/bin/python scripts/qwen3_fixture.py
.venv/bin/ruff check src tests bench scripts
.venv/bin/mypy
.venv/bin/lint-imports
exec .venv/bin/python -m pytest "$@"
