"""The engine's own numbers: load now, totals since start, and where step time goes.

The engine thread adds to :class:`MetricCounters`; any thread reads a consistent
:class:`EngineMetrics` snapshot (for ``/health``, the log and the metrics endpoint).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from qwenchat.engine.job import GenerationStats

_EMA_WEIGHT = 0.2  # weight of the newest job in the typical job duration


@dataclass(frozen=True, slots=True)
class EngineMetrics:
    """One engine's load and totals at one moment."""

    slots: int
    slots_busy: int
    running: int  # jobs generating
    waiting: int  # jobs waiting for a slot
    jobs_total: int
    prompt_tokens_total: int
    cached_tokens_total: int  # prompt tokens reused from the KV cache
    completion_tokens_total: int
    steps_total: int
    step_tokens_total: int  # tokens decoded by steps (prompt chunks and generated tokens)
    step_seconds_total: float
    decode_seconds_total: float  # inside llama_decode
    sample_seconds_total: float  # sampling, parsing and reporting tokens

    @property
    def prefix_hit_rate(self) -> float:
        """Share of prompt tokens that came from the cache."""
        if not self.prompt_tokens_total:
            return 0.0
        return self.cached_tokens_total / self.prompt_tokens_total

    @property
    def overhead_fraction(self) -> float:
        """Share of step time spent outside llama_decode and sampling (scheduling, batching)."""
        if self.step_seconds_total <= 0:
            return 0.0
        busy = self.decode_seconds_total + self.sample_seconds_total
        return max(0.0, self.step_seconds_total - busy) / self.step_seconds_total


class MetricCounters:
    """Running totals, written by the engine thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs = self._prompt = self._cached = self._completion = 0
        self._steps = self._step_tokens = 0
        self._step_seconds = self._decode_seconds = self._sample_seconds = 0.0
        self._typical_job_seconds = 1.0

    def add_step(self, *, tokens: int, seconds: float, decode_seconds: float,
                 sample_seconds: float) -> None:
        with self._lock:
            self._steps += 1
            self._step_tokens += tokens
            self._step_seconds += seconds
            self._decode_seconds += decode_seconds
            self._sample_seconds += sample_seconds

    def add_job(self, stats: GenerationStats) -> None:
        with self._lock:
            self._jobs += 1
            self._prompt += stats.prompt_tokens
            self._cached += stats.cached_tokens
            self._completion += stats.completion_tokens
            seconds = stats.prefill_seconds + stats.decode_seconds
            self._typical_job_seconds += _EMA_WEIGHT * (seconds - self._typical_job_seconds)

    def typical_job_seconds(self) -> float:
        """A moving average of how long a job holds its slot."""
        return self._typical_job_seconds

    def snapshot(self, *, slots: int, slots_busy: int, running: int,
                 waiting: int) -> EngineMetrics:
        with self._lock:
            return EngineMetrics(
                slots=slots, slots_busy=slots_busy, running=running, waiting=waiting,
                jobs_total=self._jobs, prompt_tokens_total=self._prompt,
                cached_tokens_total=self._cached, completion_tokens_total=self._completion,
                steps_total=self._steps, step_tokens_total=self._step_tokens,
                step_seconds_total=self._step_seconds,
                decode_seconds_total=self._decode_seconds,
                sample_seconds_total=self._sample_seconds,
            )
