"""A TokenSink for engine tests: records every token, ending and the job's stats."""

from __future__ import annotations

import threading

from qwenchat.core import TokenLogprob
from qwenchat.engine import EndReason, GenerationStats


class Recorder:
    """A TokenSink that keeps everything and can stop a choice after ``stop_after`` tokens."""

    def __init__(self, stop_after: int | None = None, *,
                 reasoning_ends_at: int | None = None) -> None:
        self.tokens: dict[int, list[int]] = {}
        self.ends: dict[int, EndReason] = {}
        self.stats: GenerationStats | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.first_token = threading.Event()
        self.stop_after = stop_after
        self.reasoning_ends_at = reasoning_ends_at  # a token that closes the "reasoning"
        self.reasoning = reasoning_ends_at is not None

    def on_token(self, choice: int, token: int, piece: bytes,
                 logprob: TokenLogprob | None) -> bool:
        self.tokens.setdefault(choice, []).append(token)
        self.first_token.set()
        if token == self.reasoning_ends_at:
            self.reasoning = False
        return self.stop_after is None or len(self.tokens[choice]) < self.stop_after

    def is_reasoning(self, choice: int) -> bool:
        return self.reasoning

    def on_choice_end(self, choice: int, reason: EndReason) -> None:
        self.ends[choice] = reason

    def on_job_end(self, stats: GenerationStats) -> None:
        self.stats = stats
        self.done.set()

    def on_error(self, error: BaseException) -> None:
        self.error = error
        self.done.set()
