#!/usr/bin/env bash
# Set up a development environment in .venv: Python dependencies, llama-cpp-python built
# from source once (its wheel is cached outside git, in $QWENCHAT_WHEEL_CACHE or
# ~/.cache/qwenchat/wheels, so later set-ups take seconds), and qwenchat itself (editable).
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_VERSION=0.3.36
# llamafile's sgemm kernels give wrong attention scores on AVX2-only CPUs at this version
# (the F16 KV cache read in batches: a greedy answer turns to nonsense; llama-server built
# the same way does it too with flash attention off), so the wheel is built without them.
# The flags are part of the cache's path: a wheel built otherwise is never reused.
LLAMA_CMAKE_ARGS="-DGGML_LLAMAFILE=OFF"
WHEELS="${QWENCHAT_WHEEL_CACHE:-$HOME/.cache/qwenchat/wheels}/llamafile-off"
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
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        "${PIP[@]}" wheel --quiet --no-deps --no-cache-dir \
        --wheel-dir "$WHEELS" "llama-cpp-python==$LLAMA_VERSION"
    wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n 1)
fi
"${PIP[@]}" install --quiet --no-deps --force-reinstall "$wheel"  # replaces a wheel built otherwise
"${PIP[@]}" install --quiet -e ".[test]"
# the playground's third-party bundle (markdown, code highlighting, JSON Schema); without it
# the page still works and shows answers as plain text
scripts/web_assets.sh >/dev/null \
    || echo "setup: the playground's bundle was not built (needs npm); answers show as plain text" >&2
