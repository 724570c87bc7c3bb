"""What `bench/upstream.py` compares (its fronts) and how much a run does."""

from __future__ import annotations

from dataclasses import dataclass

FRONTS = ("direct", "qwenchat", "litellm", "litellm-key")

GATEWAYS = FRONTS[1:]

LITELLMS = ("litellm", "litellm-key")

MODEL = "qwen-plus"

STREAM_WARMUP = 10


@dataclass(frozen=True)
class Scale:
    requests: int
    warmup: int
    rounds: int
    concurrency: int
    concurrent_requests: int
    streams: int
    chunks: int
    chunk_delay_ms: float

    def num_sent(self) -> int:
        """Chat requests one run sends (each phase's first, checked alone, included)."""
        return (1 + self.warmup + self.requests + 1 + max(self.warmup, self.concurrency)
                + self.concurrent_requests + STREAM_WARMUP + self.streams)
