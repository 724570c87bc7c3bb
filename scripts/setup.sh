#!/usr/bin/env bash
# Set up a development environment in .venv: Python dependencies, llama-cpp-python built
# from source once (its wheel is cached outside git, in $QWENCHAT_WHEEL_CACHE or
# ~/.cache/qwenchat/wheels, so later set-ups take seconds), and qwenchat itself (editable).
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_VERSION=0.3.36
WHEELS="${QWENCHAT_WHEEL_CACHE:-$HOME/.cache/qwenchat/wheels}"
PYTHON="${PYTHON:-python3}"

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)

wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
    echo "setup: building llama-cpp-python $LLAMA_VERSION from source (a few minutes, once)..." >&2
    mkdir -p "$WHEELS"
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "${PIP[@]}" wheel --quiet --no-deps \
        --wheel-dir "$WHEELS" "llama-cpp-python==$LLAMA_VERSION"
    wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n 1)
fi
"${PIP[@]}" install --quiet "$wheel"
"${PIP[@]}" install --quiet -e ".[test]"
# the playground's third-party bundle (markdown, code highlighting, JSON Schema); without it
# the page still works and shows answers as plain text
scripts/web_assets.sh >/dev/null \
    || echo "setup: the playground's bundle was not built (needs npm); answers show as plain text" >&2
