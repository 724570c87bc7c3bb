"""Per-sequence sampling on llama.cpp's sampler chains, and logprobs from raw logits.

The chain order follows llama.cpp's own defaults: penalties, logit bias, grammar, top-k,
top-p, temperature, then the seeded distribution (or greedy at temperature 0). A request's
``seed`` makes sampling reproducible: the same seed and prompt give the same tokens.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from typing import Any

import llama_cpp
import numpy as np

from qwenchat.core import SamplingParams, TokenLogprob, TopLogprob
from qwenchat.engine.llama import LlamaContext, LlamaModel
from qwenchat.errors import InvalidParameter

DEFAULT_TEMPERATURE = 0.7
DEFAULT_TOP_P = 0.8
PENALTY_WINDOW = 64  # tokens looked back by repetition/presence/frequency penalties


class Sampler:
    """One sequence's sampler chain; free it with :meth:`close`."""

    def __init__(self, model: LlamaModel, params: SamplingParams, *, seed: int,
                 grammar: str | None = None) -> None:
        self._chain = llama_cpp.llama_sampler_chain_init(
            llama_cpp.llama_sampler_chain_default_params()
        )
        for stage in _stages(model, params, seed, grammar):
            llama_cpp.llama_sampler_chain_add(self._chain, stage)

    def sample(self, context: LlamaContext) -> int:
        """Pick the next token from the last logits and record it in the chain's state."""
        return int(llama_cpp.llama_sampler_sample(self._chain, context.handle, -1))

    def close(self) -> None:
        if self._chain:
            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None


def pick_seed(params: SamplingParams, choice: int) -> int:
    """The seed of choice ``choice``: the request's seed + index, else a random one."""
    if params.seed is None:
        return secrets.randbelow(2**31)
    return (params.seed + choice) % 2**32


def _stages(model: LlamaModel, params: SamplingParams, seed: int,
            grammar: str | None) -> list[Any]:
    stages: list[Any] = []
    if (params.repetition_penalty != 1.0 or params.presence_penalty != 0.0
            or params.frequency_penalty != 0.0):
        stages.append(llama_cpp.llama_sampler_init_penalties(
            model.n_vocab, PENALTY_WINDOW, params.repetition_penalty,
            params.frequency_penalty, params.presence_penalty,
        ))
    if params.logit_bias:
        stages.append(_logit_bias(model, params.logit_bias))
    if grammar:
        stages.append(grammar_stage(model, grammar))
    temperature = DEFAULT_TEMPERATURE if params.temperature is None else params.temperature
    if temperature <= 0.0:
        stages.append(llama_cpp.llama_sampler_init_greedy())
        return stages
    if params.top_k:
        stages.append(llama_cpp.llama_sampler_init_top_k(params.top_k))
    top_p = DEFAULT_TOP_P if params.top_p is None else params.top_p
    if top_p < 1.0:
        stages.append(llama_cpp.llama_sampler_init_top_p(top_p, 1))
    stages.append(llama_cpp.llama_sampler_init_temp(temperature))
    stages.append(llama_cpp.llama_sampler_init_dist(seed))
    return stages


def _logit_bias(model: LlamaModel, biases: tuple[tuple[int, float], ...]) -> Any:
    valid = [(token, bias) for token, bias in biases if 0 <= token < model.n_vocab]
    array = (llama_cpp.llama_logit_bias * max(len(valid), 1))()
    for i, (token, bias) in enumerate(valid):
        array[i].token = llama_cpp.llama_token(token)
        array[i].bias = bias
    return llama_cpp.llama_sampler_init_logit_bias(model.n_vocab, len(valid), array)


def grammar_stage(model: LlamaModel, grammar: str) -> Any:
    """A grammar sampler for GBNF text with a ``root`` rule; a 400 if it does not parse."""
    stage = llama_cpp.llama_sampler_init_grammar(
        llama_cpp.llama_model_get_vocab(model.handle), grammar.encode("utf-8"), b"root"
    )
    if not stage:
        raise InvalidParameter("The grammar could not be parsed (GBNF with a `root` rule).",
                               param="grammar")
    return stage


def token_logprob(logits: np.ndarray[Any, np.dtype[np.float32]], token: int, top_n: int,
                  token_bytes: Callable[[int], bytes]) -> TokenLogprob:
    """The model's log-probability of ``token`` and its ``top_n`` alternatives."""
    shifted = logits.astype(np.float64) - float(logits.max())
    log_norm = math.log(float(np.exp(shifted).sum()))
    logprobs = shifted - log_norm
    top: tuple[TopLogprob, ...] = ()
    if top_n > 0:
        best = np.argpartition(-logprobs, top_n)[:top_n]
        best = best[np.argsort(-logprobs[best])]
        top = tuple(_entry(int(t), float(logprobs[t]), token_bytes) for t in best)
    chosen = _entry(token, float(logprobs[token]), token_bytes)
    return TokenLogprob(chosen.token, chosen.logprob, chosen.bytes, top)


def _entry(token: int, logprob: float, token_bytes: Callable[[int], bytes]) -> TopLogprob:
    raw = token_bytes(token)
    return TopLogprob(raw.decode("utf-8", errors="replace"), logprob, tuple(raw))


__all__ = ["Sampler", "grammar_stage", "pick_seed", "token_logprob"]
