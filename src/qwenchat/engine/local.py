"""LocalEngine: one GGUF model served by llama.cpp in this process.

Loading is explicit (:meth:`LocalEngine.load`, slow, run off the event loop) so a server can
answer ``/health`` with 503 while the model loads. After that the engine tokenizes on the
caller's thread and generates on its own thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import llama_cpp

from qwenchat.engine.job import GenerationJob
from qwenchat.engine.llama import LlamaContext, LlamaModel, ModelInfo
from qwenchat.engine.sampling import grammar_stage
from qwenchat.engine.worker import EngineWorker
from qwenchat.errors import ModelUnavailable

_log = logging.getLogger("qwenchat.engine")


def default_threads(num_cores: int | None = None) -> int:
    """llama.cpp threads when the settings say 0: one core is left to the server.

    On a 2-core machine, running llama.cpp on both cores while the event loop and the HTTP
    client also need CPU time makes each forward pass wait for a preempted thread
    (BENCHMARKS.md, "Threads"); one free core keeps decode steady.
    """
    cores = num_cores if num_cores is not None else (os.cpu_count() or 1)
    return max(1, cores - 1)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """How to run one model file."""

    model_path: Path
    context_size: int = 8192
    threads: int = 0
    batch_size: int = 512
    max_queue: int = 64


class LocalEngine:
    """A model, its context and the worker thread that generates with them."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._model: LlamaModel | None = None
        self._context: LlamaContext | None = None
        self._worker: EngineWorker | None = None

    @property
    def is_ready(self) -> bool:
        return self._worker is not None

    @property
    def info(self) -> ModelInfo:
        return self._loaded_model().info

    @property
    def n_ctx(self) -> int:
        if self._context is None:
            raise ModelUnavailable()
        return self._context.n_ctx

    @property
    def num_waiting(self) -> int:
        return self._worker.num_waiting if self._worker is not None else 0

    @property
    def num_running(self) -> int:
        return int(self._worker is not None and self._worker.is_busy)

    def load(self) -> None:
        """Load the model and start generating (blocking; call it off the event loop)."""
        model = LlamaModel(self.config.model_path)
        threads = self.config.threads or default_threads()
        n_ctx = min(self.config.context_size, model.info.n_ctx_train or self.config.context_size)
        context = LlamaContext(model, n_ctx=n_ctx, n_batch=self.config.batch_size,
                               n_threads=threads)
        self._model, self._context = model, context
        self._worker = EngineWorker(model, context, max_queue=self.config.max_queue)
        _log.info("loaded %s (%s): context %d tokens, %d threads",
                  model.info.path.name, model.info.description, n_ctx, threads)

    def abort_all(self) -> None:
        """End running and queued jobs with ``ModelUnavailable``; refuse new ones."""
        if self._worker is not None:
            self._worker.abort_all()

    def close(self) -> None:
        """Stop generating and free llama.cpp memory."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self._context is not None:
            self._context.close()
            self._context = None
        if self._model is not None:
            self._model.close()
            self._model = None

    def tokenize(self, text: str, *, is_prompt: bool = True) -> list[int]:
        """Token ids of ``text``; a prompt gets BOS if the model wants one."""
        model = self._loaded_model()
        return model.tokenize(text, add_special=is_prompt and model.info.add_bos)

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of ``tokens`` (special tokens rendered as text)."""
        model = self._loaded_model()
        raw = b"".join(model.token_bytes(token, special=True) for token in tokens)
        return raw.decode("utf-8", errors="replace")

    def submit(self, job: GenerationJob) -> None:
        """Queue ``job`` (raises ServerOverloaded when the queue is full)."""
        if self._worker is None:
            raise ModelUnavailable()
        self._worker.submit(job)

    def check_grammar(self, grammar: str) -> None:
        """Raise InvalidParameter unless ``grammar`` is valid GBNF with a ``root`` rule."""
        llama_cpp.llama_sampler_free(grammar_stage(self._loaded_model(), grammar))

    def _loaded_model(self) -> LlamaModel:
        if self._model is None:
            raise ModelUnavailable()
        return self._model
