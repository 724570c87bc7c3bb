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
from enum import Enum
from pathlib import Path

from qwenchat.engine.constraint import Constraint, GrammarCompiler
from qwenchat.engine.job import GenerationJob
from qwenchat.engine.llama import LlamaContext, LlamaModel, ModelInfo
from qwenchat.engine.metrics import EngineMetrics
from qwenchat.engine.prefixes import ReuseMode
from qwenchat.engine.scheduler import SchedulerConfig
from qwenchat.engine.worker import EngineWorker
from qwenchat.errors import InvalidParameter, ModelUnavailable
from qwenchat.settings import EngineSettings

_log = logging.getLogger("qwenchat.engine")
FAULT_VARIABLE = "QWENCHAT_FAULT"  # fault injection for tests: "engine-hang" or "engine-die"
_STALLED = "The model's engine stopped responding; the server is restarting."
_DIED = "The model's engine failed and was restarted; please retry."
_DEFAULTS = EngineSettings()  # the one definition of the engine's defaults
_DEFAULT_REUSE = ReuseMode(_DEFAULTS.prefix_cache)


class EngineHealth(str, Enum):
    """What the watchdog found."""

    OK = "ok"
    RECOVERED = "recovered"  # the engine thread had died and was replaced
    STALLED = "stalled"  # a step is stuck inside llama.cpp: the process must restart


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
    """How to run one model file; the defaults are the settings' (``[engine]``)."""

    model_path: Path
    # tokens of KV cache per slot: one request's prompt + output
    context_size: int = _DEFAULTS.context_size
    threads: int = _DEFAULTS.threads  # 0 = default_threads()
    batch_size: int = _DEFAULTS.batch_size  # tokens one decode step carries at most
    max_queue: int = _DEFAULTS.max_queue  # requests waiting for a slot before 503
    slots: int = _DEFAULTS.slots  # sequences decoded together; 0 = default_slots()
    prefill_chunk: int = 256  # prompt tokens per step while other sequences decode
    # seconds; queued past it: 503, running: length; None: no limit
    request_timeout: float | None = _DEFAULTS.request_timeout or None
    # what later prompts may reuse (prefixes.py)
    prefix_cache: ReuseMode = _DEFAULT_REUSE
    host_cache_mb: int = _DEFAULTS.host_cache_mb  # host memory for evicted caches; 0: none
    # faster, but outputs then depend on batch neighbours
    flash_attention: bool = _DEFAULTS.flash_attention
    # seconds one engine step may take before it is stalled; 0: off
    stall_timeout: float = _DEFAULTS.stall_timeout


class LocalEngine:
    """A model, its context and the worker thread that generates with them."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._model: LlamaModel | None = None
        self._context: LlamaContext | None = None
        self._grammars: GrammarCompiler | None = None
        self._scheduler_config: SchedulerConfig | None = None
        self._is_stalled = False
        self._worker: EngineWorker | None = None

    @property
    def is_ready(self) -> bool:
        return self._worker is not None and not self._is_stalled

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
        self._grammars = GrammarCompiler(model)
        self._scheduler_config = scheduler
        self._worker = EngineWorker(model, context, max_queue=config.max_queue,
                                    scheduler=scheduler, fault=os.environ.get(FAULT_VARIABLE, ""))
        _log.info("loaded %s (%s): %d slots of %d tokens, %d threads, prefix cache %s "
                  "(%d tokens in host memory)", model.info.path.name, model.info.description,
                  slots, context.n_ctx_seq, threads, config.prefix_cache.value, host_tokens)

    def watch(self, now: float) -> EngineHealth:
        """The watchdog's look at the engine thread (any thread, every second or so).

        A thread that died (an error escaped it) is replaced: its jobs fail with 503, the
        slots are cleared and a new thread serves on the same context. A step running
        longer than ``stall_timeout`` cannot be interrupted (it is inside llama.cpp): every
        job fails with 503 now, new ones are refused, and the engine reports STALLED for
        good — the server then exits so that a supervisor restarts it.
        """
        worker, timeout = self._worker, self.config.stall_timeout
        scheduler, context, model = self._scheduler_config, self._context, self._model
        if worker is None or scheduler is None or context is None or model is None:
            return EngineHealth.OK
        if self._is_stalled:
            return EngineHealth.STALLED
        if timeout and worker.stalled_for(now) > timeout:
            _log.critical("the engine thread has been in one step for over %.0fs: stalled",
                          timeout)
            self._is_stalled = True
            worker.break_down(ModelUnavailable(_STALLED))
            return EngineHealth.STALLED
        if not worker.is_alive:
            _log.error("the engine thread died: failing its requests and starting a new one")
            worker.break_down(ModelUnavailable(_DIED))
            for slot in range(context.n_seq):
                context.truncate(slot, 0)
            self._worker = EngineWorker(model, context, max_queue=self.config.max_queue,
                                        scheduler=scheduler)
            return EngineHealth.RECOVERED
        return EngineHealth.OK

    def abort_all(self) -> None:
        """End running and queued jobs with ``ModelUnavailable``; refuse new ones."""
        if self._worker is not None:
            self._worker.abort_all()

    def close(self) -> None:
        """Stop generating and free llama.cpp memory (left to the process's end when the
        engine thread is stalled inside it: freeing it under that thread would crash)."""
        if self._is_stalled:
            self._worker = None
            return
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self._context is not None:
            self._context.close()
            self._context = None
        self._grammars = None
        if self._model is not None:
            self._model.close()
            self._model = None

    def tokenize(self, text: str, *, is_prompt: bool = True) -> list[int]:
        """Token ids of ``text``; a prompt gets BOS if the model wants one. A prompt that
        cannot fit the context whatever its tokens is refused before it is tokenized (a
        body of megabytes would hold a core for seconds)."""
        model = self._loaded_model()
        if is_prompt and self._grammars is not None and (
                len(text) > (self.n_ctx - 1) * self._grammars.longest_token):
            raise self._too_long()
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
        if not 1 <= len(prompt) <= self.n_ctx - 1:
            raise self._too_long()

    def _too_long(self) -> InvalidParameter:
        return InvalidParameter(f"Range of input length should be [1, {self.n_ctx - 1}]",
                                param="messages")

    def check_token_ids(self, tokens: Sequence[int], param: str) -> None:
        """Raise InvalidParameter unless every id of ``tokens`` is in the vocabulary
        (llama.cpp aborts the process on an id outside it)."""
        n_vocab = self._loaded_model().n_vocab
        for token in tokens:
            if not 0 <= token < n_vocab:
                raise InvalidParameter(
                    f"Invalid value for '{param}': token id {token} is not in the model's "
                    f"vocabulary [0, {n_vocab}).", param=param)

    def compile_grammar(self, grammar: str, *, what: str = "grammar",
                        param: str = "grammar") -> Constraint:
        """``grammar`` (from ``engine.grammars``) compiled for this model's vocabulary, within
        bounds; InvalidParameter naming ``what``/``param`` if it cannot be (run it off the
        event loop and the engine thread: a large grammar takes milliseconds)."""
        if self._grammars is None:
            raise ModelUnavailable()
        return self._grammars.compile(grammar, what=what, param=param)

    def _loaded_model(self) -> LlamaModel:
        if self._model is None:
            raise ModelUnavailable()
        return self._model
