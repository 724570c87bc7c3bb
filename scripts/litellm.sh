#!/usr/bin/env bash
# The LiteLLM proxy, the peer of bench/upstream.py: litellm[proxy] at a pinned version in its
# own virtual environment, outside git and outside qwenchat's .venv (its dependency pins are
# its own). Lives in $QWENCHAT_CACHE (default ~/.cache/qwenchat)/litellm-venv.
#
# The version is pinned exactly because litellm's PyPI releases have been compromised before
# (malicious versions, since removed from PyPI): an upgrade should be a deliberate edit here.
# 1.108.0 is the newest whose `proxy` extra resolves from PyPI as reached here (later ones
# want litellm-proxy or litellm-proxy-extras releases that PyPI does not serve).
# Idempotent: a finished install leaves litellm-venv/.qwenchat-litellm holding what it
# installed, so later runs only print the `litellm` command's path.
#   scripts/litellm.sh            -> prints the litellm binary's path
set -euo pipefail
# httptools: uvicorn's C HTTP parser, which qwenchat's server runs on too (uvicorn[standard]);
# litellm[proxy] leaves it out, and uvicorn then parses HTTP in pure Python (h11).
WANT="litellm[proxy]==1.108.0 httptools==0.9.0"
CACHE="${QWENCHAT_CACHE:-$HOME/.cache/qwenchat}"
VENV="$CACHE/litellm-venv"
STAMP="$VENV/.qwenchat-litellm"
PYTHON="${PYTHON:-python3}"

if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
    echo "litellm: installing $WANT into $VENV (a minute or two, once)..." >&2
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    "$PYTHON" -m venv "$VENV"
    PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --quiet)
    "${PIP[@]}" install --upgrade pip >&2
    # shellcheck disable=SC2086 # $WANT is a list of requirements
    "${PIP[@]}" install $WANT >&2
    echo "$WANT" > "$STAMP"
fi
echo "$VENV/bin/litellm"
