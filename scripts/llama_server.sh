#!/usr/bin/env bash
# Build llama-server (the benchmarks' peer and an upstream replica in the tests) from the
# llama.cpp source vendored in the llama-cpp-python sdist that qwenchat runs on (same
# llama.cpp commit, same compiler flags family). The binary lives in the cache, never in
# the repository; later runs only print its path.
#   scripts/llama_server.sh            -> prints the binary's path
set -euo pipefail
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
CACHE="${QWENCHAT_CACHE:-$HOME/.cache/qwenchat}/llama-server-$VERSION"
BINARY="$CACHE/build/bin/llama-server"
if [[ -x "$BINARY" ]]; then echo "$BINARY"; exit 0; fi
mkdir -p "$CACHE"
PYTHON="${PYTHON:-$(dirname "$0")/../.venv/bin/python}"
if [[ ! -d "$CACHE/src" ]]; then
  "$PYTHON" -m pip download "llama-cpp-python==$VERSION" --no-deps --no-binary :all: \
    -d "$CACHE" -q >&2
  mkdir -p "$CACHE/src"
  tar xzf "$CACHE/llama_cpp_python-$VERSION.tar.gz" -C "$CACHE/src" --strip-components=1
fi
GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)
cmake -S "$CACHE/src/vendor/llama.cpp" -B "$CACHE/build" "${GENERATOR[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_SERVER=ON -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_BUILD_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF >&2
cmake --build "$CACHE/build" --target llama-server -j "$(nproc)" >&2
echo "$BINARY"
