"""Sampling parameters of one request, validated and normalised.

``None`` means "not given": the engine uses the model's defaults. ``top_k`` of ``None``
means top-k is off (DashScope: null or > 100 is off; the protocol layer maps those to None).
``max_tokens`` bounds the answer alone, ``max_completion_tokens`` everything generated
(reasoning included); both apply when both are set.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How to pick each next token and when to stop."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    seed: int | None = None
    max_tokens: int | None = None  # answer tokens (reasoning not counted)
    max_completion_tokens: int | None = None  # reasoning and answer together
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[tuple[int, ...], ...] = ()
    logprobs: bool = False
    top_logprobs: int = 0
    logit_bias: tuple[tuple[int, float], ...] = ()
