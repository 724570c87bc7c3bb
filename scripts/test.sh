#!/usr/bin/env bash
# Set everything up (Python environment, the Redis and PostgreSQL server binaries and the
# Debian Chromium the tests start, llama-server built once into the cache and vLLM's CPU
# build installed once beside it as test upstreams), then run the checks CI runs: lint
# (ruff), typing (mypy --strict), import layers (import-linter) and the test suite (pytest)
# against the real engine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/services.sh
.venv/bin/qwenchat pull starter
.venv/bin/python scripts/qwen3_fixture.py
scripts/llama_server.sh >/dev/null
scripts/vllm_cpu.sh >/dev/null
.venv/bin/ruff check src tests bench scripts harness
.venv/bin/mypy
.venv/bin/lint-imports
exec .venv/bin/python -m pytest "$@"
