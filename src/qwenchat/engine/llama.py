"""Thin, typed wrappers over llama-cpp-python's low-level (ctypes) API.

This module is the only place that touches raw llama.cpp handles: loading a GGUF model,
reading its metadata, tokenizing, turning tokens into bytes, and owning one context with a
reusable batch. Everything is synchronous; callers run it on the engine thread (tokenizing
and detokenizing only read the vocabulary and are safe from any thread).

llama.cpp's own log lines are routed to the ``qwenchat.llama`` logger: warnings and errors
at their level, the chatty rest at DEBUG.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt

from qwenchat.errors import ModelFileError, QwenchatError

_log = logging.getLogger("qwenchat.llama")
# ggml's levels: 0 none, 1 debug, 2 info, 3 warn, 4 error, 5 continuation of the last line.
_LEVELS = {3: logging.WARNING, 4: logging.ERROR}


@llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
def _forward_log(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    python_level = _LEVELS.get(level, logging.DEBUG)
    if _log.isEnabledFor(python_level):
        message = text.decode("utf-8", errors="replace").rstrip()
        if message:
            _log.log(python_level, "%s", message)


_backend_lock = threading.Lock()
_backend_ready = False


def _init_backend() -> None:
    """Initialise llama.cpp once per process and route its log to Python logging."""
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            llama_cpp.llama_backend_init()
            llama_cpp.llama_log_set(_forward_log, ctypes.c_void_p(0))
            _backend_ready = True


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the rest of qwenchat needs to know about a loaded model."""

    path: Path
    description: str
    n_ctx_train: int
    n_vocab: int
    chat_template: str | None
    bos_token: str
    eos_token: str
    add_bos: bool


class LlamaModel:
    """A loaded GGUF model and its vocabulary."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ModelFileError(f"Model file {path} does not exist.")
        _init_backend()
        params = llama_cpp.llama_model_default_params()
        self._model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
        if not self._model:
            raise ModelFileError(f"llama.cpp could not load {path} (not a supported GGUF?).")
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self.n_vocab: int = llama_cpp.llama_vocab_n_tokens(self._vocab)
        self.info = ModelInfo(
            path=path,
            description=self._meta("general.name") or self._describe(),
            n_ctx_train=llama_cpp.llama_model_n_ctx_train(self._model),
            n_vocab=self.n_vocab,
            chat_template=self._meta("tokenizer.chat_template"),
            bos_token=self._special_text(llama_cpp.llama_vocab_bos(self._vocab)),
            eos_token=self._special_text(llama_cpp.llama_vocab_eos(self._vocab)),
            add_bos=bool(llama_cpp.llama_vocab_get_add_bos(self._vocab)),
        )

    @property
    def handle(self) -> Any:
        return self._model

    def close(self) -> None:
        if self._model:
            llama_cpp.llama_model_free(self._model)
            self._model = None

    def tokenize(self, text: str, *, add_special: bool = True) -> list[int]:
        """Token ids of ``text``; special tokens written in the text are parsed as such."""
        data = text.encode("utf-8")
        capacity = len(data) + 16
        buffer = (llama_cpp.llama_token * capacity)()
        count = llama_cpp.llama_tokenize(
            self._vocab, data, len(data), buffer, capacity, add_special, True
        )
        if count < 0:  # buffer too small: llama.cpp says how many are needed
            capacity = -count
            buffer = (llama_cpp.llama_token * capacity)()
            count = llama_cpp.llama_tokenize(
                self._vocab, data, len(data), buffer, capacity, add_special, True
            )
        return list(buffer[:count])

    def token_bytes(self, token: int, *, special: bool = False) -> bytes:
        """The raw bytes of one token (may be part of a UTF-8 character); ``ValueError`` for
        an id outside the vocabulary, which llama.cpp would abort the process on."""
        if not 0 <= token < self.n_vocab:
            raise ValueError(f"token id {token} is not in the vocabulary")
        buffer = ctypes.create_string_buffer(64)
        length = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, 64, 0, special)
        if length < 0:
            buffer = ctypes.create_string_buffer(-length)
            length = llama_cpp.llama_token_to_piece(
                self._vocab, token, buffer, -length, 0, special
            )
        return buffer.raw[:length]

    def kv_bytes_per_token(self) -> int:
        """KV cache bytes of one token (F16 keys and values over every layer), computed
        from the model's shape: nothing may run llama.cpp off the engine thread (its
        OpenMP thread team belongs to the thread that first decodes)."""
        handle = self._model
        layers = llama_cpp.llama_model_n_layer(handle)
        heads = llama_cpp.llama_model_n_head(handle)
        kv_heads = llama_cpp.llama_model_n_head_kv(handle)
        arch = self._meta("general.architecture") or ""
        default = llama_cpp.llama_model_n_embd(handle) // max(1, heads)
        key = int(self._meta(f"{arch}.attention.key_length") or default)
        value = int(self._meta(f"{arch}.attention.value_length") or default)
        return max(1, int(layers * kv_heads * (key + value) * 2))

    def is_end_of_generation(self, token: int) -> bool:
        if not 0 <= token < self.n_vocab:
            raise ValueError(f"token id {token} is not in the vocabulary")
        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def _meta(self, key: str) -> str | None:
        buffer = ctypes.create_string_buffer(1 << 20)
        length = llama_cpp.llama_model_meta_val_str(self._model, key.encode(), buffer, 1 << 20)
        if length < 0:
            return None
        return buffer.value.decode("utf-8", errors="replace")

    def _describe(self) -> str:
        buffer = ctypes.create_string_buffer(256)
        llama_cpp.llama_model_desc(self._model, buffer, 256)
        return buffer.value.decode("utf-8", errors="replace")

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.token_bytes(token, special=True).decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class BatchRow:
    """Tokens of one sequence in a decode batch: ``tokens`` at positions ``start``.., and
    whether the last one's logits are wanted (to sample what follows it)."""

    seq_id: int
    tokens: list[int]
    start: int
    want_logits: bool


class LlamaContext:
    """One llama.cpp context: ``n_seq`` sequences, each with its own KV buffer.

    The KV cache is not unified: each sequence attends over its own buffer only, so its
    logits do not depend on what else shares a batch (outputs stay the same whether a
    request runs alone or beside others), at the price of a fixed context per sequence.
    Flash attention is off by default for the same reason: llama.cpp's CPU kernel picks its
    code path by the rows and KV cells in the batch (and splits the KV over threads), so
    with it on a sequence's numbers depend on its neighbours (BENCHMARKS.md, "Batching
    invariance").

    This is also where llama.cpp's fatal misuses are turned into Python errors: reading the
    logits of a batch row that did not ask for them (llama.cpp aborts the process), and a
    sequence copied onto itself. Copies go through the per-sequence state API, never
    ``seq_cp``, which copies whole buffers across sequences and aborts on partial ones.
    """

    def __init__(self, model: LlamaModel, *, n_seq: int, n_ctx_seq: int, n_batch: int,
                 n_threads: int, flash_attention: bool = False) -> None:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx_seq * n_seq
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = n_seq
        params.kv_unified = False
        params.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attention
                                  else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.no_perf = True
        self._ctx = llama_cpp.llama_init_from_model(model.handle, params)
        if not self._ctx:
            raise QwenchatError(
                f"llama.cpp could not create a context of {n_seq} x {n_ctx_seq} tokens."
            )
        self.n_seq: int = n_seq
        self.n_ctx_seq: int = min(n_ctx_seq, llama_cpp.llama_n_ctx_seq(self._ctx))
        self.n_batch = n_batch
        self._n_vocab = model.n_vocab
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._outputs: set[int] = set()  # batch rows of the last decode that have logits

    @property
    def handle(self) -> Any:
        return self._ctx

    def close(self) -> None:
        if self._ctx:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
            self._ctx = None

    def truncate(self, seq_id: int, n_keep: int) -> None:
        """Drop sequence ``seq_id``'s cached positions ``n_keep`` and later."""
        llama_cpp.llama_memory_seq_rm(self._memory, seq_id, n_keep, -1)

    def save(self, seq_id: int) -> ctypes.Array[ctypes.c_uint8]:
        """Sequence ``seq_id``'s cache (its cells only, not the whole buffer) as bytes."""
        size = llama_cpp.llama_state_seq_get_size(self._ctx, seq_id)
        data: ctypes.Array[ctypes.c_uint8] = (ctypes.c_uint8 * int(size))()
        written = llama_cpp.llama_state_seq_get_data(self._ctx, data, size, seq_id)
        if written != size:
            raise QwenchatError(f"saving sequence {seq_id} wrote {written} of {size} bytes")
        return data

    def restore(self, seq_id: int, data: ctypes.Array[ctypes.c_uint8]) -> None:
        """Replace sequence ``seq_id``'s cache with one saved by :meth:`save`."""
        read = llama_cpp.llama_state_seq_set_data(self._ctx, data, len(data), seq_id)
        if read != len(data):
            self.truncate(seq_id, 0)
            raise QwenchatError(f"restoring sequence {seq_id} failed")

    def copy(self, source: int, target: int) -> None:
        """Make ``target``'s cache a copy of ``source``'s (cost grows with its tokens)."""
        if source == target:
            raise ValueError("a sequence cannot be copied onto itself")
        self.restore(target, self.save(source))

    def decode(self, rows: list[BatchRow]) -> dict[int, int]:
        """Decode every row in one batch; returns each logits-wanting sequence's batch index.

        Rows are laid out in sequence-id order: llama.cpp splits a multi-sequence batch into
        runs of consecutive sequence ids.
        """
        rows = sorted(rows, key=lambda row: row.seq_id)
        total = sum(len(row.tokens) for row in rows)
        if not 0 < total <= self.n_batch:
            raise ValueError(f"a batch of {total} tokens (the limit is {self.n_batch})")
        batch = self._batch
        outputs: dict[int, int] = {}
        i = 0
        for row in rows:
            if not 0 <= row.seq_id < self.n_seq:
                raise ValueError(f"no sequence {row.seq_id}")
            for offset, token in enumerate(row.tokens):
                batch.token[i] = token
                batch.pos[i] = row.start + offset
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = row.seq_id
                batch.logits[i] = 0
                i += 1
            if row.want_logits:
                batch.logits[i - 1] = 1
                outputs[row.seq_id] = i - 1
        batch.n_tokens = total
        self._outputs = set()
        status = llama_cpp.llama_decode(self._ctx, batch)
        if status != 0:
            raise QwenchatError(f"llama_decode failed with status {status}.")
        self._outputs = set(outputs.values())
        return outputs

    def check_output(self, index: int) -> None:
        """Raise unless batch row ``index`` of the last decode has logits."""
        if index not in self._outputs:
            raise QwenchatError(f"batch row {index} has no logits")

    def logits(self, index: int) -> npt.NDArray[np.float32]:
        """A copy of the logits of batch row ``index`` of the last decode."""
        self.check_output(index)
        pointer = llama_cpp.llama_get_logits_ith(self._ctx, index)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()
