"""LocalEngine: one GGUF model served by llama.cpp in this process.

Loading is explicit (:meth:`LocalEngine.load`, slow, run off the event loop) so a server can
answer ``/health`` with 503 while the model loads. After that the engine tokenizes on the
caller's thread and generates on its own thread, batching up to ``slots`` sequences, each
with its own ``context_size`` tokens of KV cache (so memory grows with both).
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
from qwenchat.engine.metrics import EngineMetrics
from qwenchat.engine.prefixes import ReuseMode
from qwenchat.engine.sampling import grammar_stage
from qwenchat.engine.scheduler import SchedulerConfig
from qwenchat.engine.worker import EngineWorker
from qwenchat.errors import InvalidParameter, ModelUnavailable

_log = logging.getLogger("qwenchat.engine")


def default_threads(num_cores: int | None = None) -> int:
    """llama.cpp threads when the settings say 0: one core is left to the server.

    On a 2-core machine, running llama.cpp on both cores while the event loop and the HTTP
    client also need CPU time makes each forward pass wait for a preempted thread
    (BENCHMARKS.md, "Threads"); one free core keeps decode steady.
    """
    cores = num_cores if num_cores is not None else (os.cpu_count() or 1)
    return max(1, cores - 1)


def default_slots(num_cores: int | None = None) -> int:
    """Sequence slots when the settings say 0: four, more on machines with many cores.

    Sequences sharing a step raise aggregate throughput and, above all, let a new request
    start without waiting for the running ones (BENCHMARKS.md, "Serving: concurrency");
    each slot costs a context's worth of KV memory.
    """
    cores = num_cores if num_cores is not None else (os.cpu_count() or 1)
    return max(4, min(16, cores // 2))


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """How to run one model file."""

    model_path: Path
    context_size: int = 8192  # tokens of KV cache per slot: one request's prompt + output
    threads: int = 0
    batch_size: int = 512  # tokens one decode step carries at most
    max_queue: int = 64  # requests waiting for a slot before 503
    slots: int = 0  # sequences decoded together; 0 = default_slots()
    prefill_chunk: int = 256  # prompt tokens per step while other sequences decode
    request_timeout: float | None = 600.0  # seconds; queued past it: 503, running: length
    prefix_cache: ReuseMode = ReuseMode.EXACT  # what later prompts may reuse (prefixes.py)
    host_cache_mb: int = 2048  # host memory for caches evicted from slots; 0: none
    flash_attention: bool = False  # faster, but outputs then depend on batch neighbours


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
        """Tokens one request may use, prompt and output together."""
        if self._context is None:
            raise ModelUnavailable()
        return self._context.n_ctx_seq

    @property
    def num_waiting(self) -> int:
        return self._worker.num_waiting if self._worker is not None else 0

    @property
    def num_running(self) -> int:
        return self._worker.num_running if self._worker is not None else 0

    def metrics(self) -> EngineMetrics | None:
        """Load and totals, or None before the model is loaded."""
        return self._worker.metrics() if self._worker is not None else None

    def load(self) -> None:
        """Load the model and start generating (blocking; call it off the event loop)."""
        config = self.config
        model = LlamaModel(config.model_path)
        threads = config.threads or default_threads()
        slots = config.slots or default_slots()
        n_ctx = min(config.context_size, model.info.n_ctx_train or config.context_size)
        batch = max(config.batch_size, slots)
        context = LlamaContext(model, n_seq=slots, n_ctx_seq=n_ctx, n_batch=batch,
                               n_threads=threads, flash_attention=config.flash_attention)
        host_tokens = config.host_cache_mb * 2**20 // model.kv_bytes_per_token()
        scheduler = SchedulerConfig(
            num_slots=slots, slot_capacity=context.n_ctx_seq, max_step_tokens=batch,
            prefill_chunk=max(2, min(config.prefill_chunk, batch - slots)),
            reuse=config.prefix_cache, host_cache_tokens=host_tokens,
        )
        self._model, self._context = model, context
        self._worker = EngineWorker(model, context, max_queue=config.max_queue,
                                    scheduler=scheduler)
        _log.info("loaded %s (%s): %d slots of %d tokens, %d threads, prefix cache %s "
                  "(%d tokens in host memory)", model.info.path.name, model.info.description,
                  slots, context.n_ctx_seq, threads, config.prefix_cache.value, host_tokens)

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
        """Queue ``job`` (raises ServerOverloaded when the queue is full); a job without a
        timeout gets the configured one."""
        if self._worker is None:
            raise ModelUnavailable()
        self.check_prompt(job.prompt)
        if job.timeout is None:
            job.timeout = self.config.request_timeout
        self._worker.submit(job)

    def check_prompt(self, prompt: Sequence[int]) -> None:
        """Raise InvalidParameter unless ``prompt`` leaves room for at least one token."""
        limit = self.n_ctx - 1
        if not 1 <= len(prompt) <= limit:
            raise InvalidParameter(f"Range of input length should be [1, {limit}]",
                                   param="messages")

    def check_grammar(self, grammar: str) -> None:
        """Raise InvalidParameter unless ``grammar`` is valid GBNF with a ``root`` rule."""
        llama_cpp.llama_sampler_free(grammar_stage(self._loaded_model(), grammar))

    def _loaded_model(self) -> LlamaModel:
        if self._model is None:
            raise ModelUnavailable()
        return self._model
