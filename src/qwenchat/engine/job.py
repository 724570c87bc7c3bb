"""What the engine is asked to do, and the narrow interface it reports through.

A :class:`GenerationJob` carries token ids in and reports tokens out through its
:class:`TokenSink`, called on the engine thread. The sink decides whether a choice goes on
(e.g. it stops when a stop string completes), so no token is generated past the end, and
says whether the model is reasoning: reasoning tokens do not count against ``max_tokens``,
they count against ``thinking_budget`` (at which ``end_reasoning`` is injected), and the
job's grammar constrains only the tokens after the reasoning. ``max_completion_tokens``
counts every generated token of a choice, reasoning and answer alike.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from qwenchat.core import SamplingParams, TokenLogprob
from qwenchat.engine.constraint import Constraint


class EndReason(str, Enum):
    """Why the engine stopped generating one choice."""

    END_OF_GENERATION = "eog"  # the model emitted an end-of-generation token
    SINK_STOPPED = "sink"  # the sink asked to stop (stop string, parser decision)
    LENGTH = "length"  # max_tokens or max_completion_tokens reached, or the context is full
    CANCELLED = "cancelled"  # the client went away or the server is stopping


@dataclass(frozen=True, slots=True)
class GenerationStats:
    """Timings and counts of one job, for usage and the request log line."""

    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int  # reasoning tokens included, as OpenAI counts them
    reasoning_tokens: int
    queue_seconds: float
    prefill_seconds: float
    decode_seconds: float

    @property
    def prefill_tokens_per_second(self) -> float:
        new_tokens = self.prompt_tokens - self.cached_tokens
        return new_tokens / self.prefill_seconds if self.prefill_seconds > 0 else 0.0

    @property
    def decode_tokens_per_second(self) -> float:
        return self.completion_tokens / self.decode_seconds if self.decode_seconds > 0 else 0.0


class TokenSink(Protocol):
    """Receives a job's output on the engine thread; must not block."""

    def on_token(self, choice: int, token: int, piece: bytes,
                 logprob: TokenLogprob | None) -> bool:
        """One generated token; return False to end this choice now."""

    def is_reasoning(self, choice: int) -> bool:
        """Whether choice ``choice`` is inside its reasoning now."""

    def on_choice_end(self, choice: int, reason: EndReason) -> None:
        """Choice ``choice`` has ended; no more tokens for it."""

    def on_job_end(self, stats: GenerationStats) -> None:
        """Every choice has ended."""

    def on_error(self, error: BaseException) -> None:
        """The job failed; nothing more will be reported."""


@dataclass(eq=False)
class GenerationJob:
    """One request's generation: ``n`` choices continuing ``prompt``."""

    prompt: list[int]
    sampling: SamplingParams
    max_tokens: int  # answer tokens per choice
    sink: TokenSink
    n: int = 1
    max_completion_tokens: int | None = None  # reasoning and answer tokens per choice
    constraint: Constraint | None = None  # grammar of the answer (not the reasoning)...
    grammar_covers_reasoning: bool = False  # ...unless this is set: then the whole output
    thinking_budget: int | None = None  # reasoning tokens before end_reasoning is injected
    end_reasoning: tuple[int, ...] = ()  # tokens that close the reasoning
    cancelled: threading.Event = field(default_factory=threading.Event)
    submitted_at: float = field(default_factory=time.perf_counter)
    timeout: float | None = None  # seconds from submission; queued past it: 503, running: length
    abort_error: BaseException | None = None

    @property
    def deadline(self) -> float | None:
        return None if self.timeout is None else self.submitted_at + self.timeout

    def cancel(self) -> None:
        """Ask the engine to stop this job at the next token (thread-safe)."""
        self.cancelled.set()

    def abort(self, error: BaseException) -> None:
        """Stop at the next token and report ``error`` instead of a normal end."""
        self.abort_error = error
        self.cancelled.set()
