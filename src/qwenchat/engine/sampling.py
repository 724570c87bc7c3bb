"""Per-sequence sampling on llama.cpp's sampler chains, grammar constraints, and logprobs.

The chain order follows llama.cpp's defaults: penalties, logit bias, top-k, top-p,
temperature, then the seeded distribution (or greedy at temperature 0). A request's ``seed``
makes sampling reproducible: the same seed and prompt give the same tokens.

A grammar constrains a sequence from the moment it is activated — the answer only, never
the reasoning before it — through an llguidance :class:`~qwenchat.engine.constraint.Matcher`
(llama.cpp's grammar engine is never used: it aborts the process on hostile grammars).
Sampling under a grammar is check-then-resample: sample freely, ask the grammar about that
one token, and only when it is refused mask the vocabulary and sample again, so a model that
follows its format pays almost nothing (BENCHMARKS.md, "Grammar").

The mask is what can cost: a hostile schema takes tens of milliseconds per token. Given a
:class:`MaskPool`, :meth:`Sampler.sample` computes it on the pool's thread and waits only
briefly; a mask not ready by then comes back as a :class:`MaskWait`, which the engine
finishes (:meth:`Sampler.finish`) in a later step, while every other sequence goes on.
"""

from __future__ import annotations

import ctypes
import math
import secrets
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import llama_cpp
import numpy as np

from qwenchat.core import SamplingParams, TokenLogprob, TopLogprob
from qwenchat.engine.constraint import Constraint, Matcher
from qwenchat.engine.llama import LlamaContext, LlamaModel

DEFAULT_TEMPERATURE = 0.7
DEFAULT_TOP_P = 0.8
PENALTY_WINDOW = 64  # tokens looked back by repetition/presence/frequency penalties
INLINE_MASK_WAIT = 0.002  # seconds a step waits for a mask before it goes on without it
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class MaskPool:
    """The thread that computes grammar masks beside the engine thread's decodes."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qwenchat-mask")

    def submit(self, matcher: Matcher) -> Future[bytes]:
        return self._executor.submit(matcher.compute_mask)

    def close(self, *, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=True)


@dataclass(eq=False)
class MaskWait:
    """A constrained pick whose mask was not ready: the logits it is picked from (the next
    decode overwrites the context's) and the mask being computed."""

    logits: np.ndarray[Any, np.dtype[np.float32]]
    mask: Future[bytes]

    @property
    def is_ready(self) -> bool:
        return self.mask.done()


class _Candidates:
    """A reusable llama_token_data_array over a numpy buffer of the whole vocabulary."""

    def __init__(self, n_vocab: int) -> None:
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._buffer = np.zeros(n_vocab, dtype=_TOKEN_DATA)
        self._array = llama_cpp.llama_token_data_array(
            data=self._buffer.ctypes.data_as(llama_cpp.llama_token_data_p),
            size=n_vocab, selected=-1, sorted=False)

    def fill(self, logits: np.ndarray[Any, np.dtype[np.float32]]) -> Any:
        """The full candidate list for ``logits`` (samplers reorder it, so refill each time)."""
        self._buffer["id"] = self._ids
        self._buffer["logit"] = logits
        self._buffer["p"] = 0.0
        self._array.size = len(self._ids)
        self._array.selected = -1
        self._array.sorted = False
        return ctypes.byref(self._array)

    def selected(self) -> int:
        return int(self._buffer["id"][self._array.selected])


class Sampler:
    """One sequence's sampler chain and optional grammar; free it with :meth:`close`."""

    def __init__(self, model: LlamaModel, params: SamplingParams, *, seed: int,
                 constraint: Constraint | None = None) -> None:
        self._chain = llama_cpp.llama_sampler_chain_init(
            llama_cpp.llama_sampler_chain_default_params()
        )
        for stage in _stages(model, params, seed):
            llama_cpp.llama_sampler_chain_add(self._chain, stage)
        self._n_vocab = model.n_vocab
        self._constraint = constraint
        self._matcher: Matcher | None = None
        self._candidates: _Candidates | None = None

    def activate_grammar(self) -> None:
        """Constrain every later token by the grammar (no-op without one, or if active)."""
        if self._constraint is not None and self._matcher is None:
            self._matcher = self._constraint.matcher()
            self._candidates = _Candidates(self._n_vocab)

    def sample(self, context: LlamaContext, index: int, *,
               masks: MaskPool | None = None) -> int | MaskWait:
        """Pick the next token from the logits of batch row ``index`` of the last decode,
        and record it in the samplers' state; ``ConstraintDeadEnd`` if the grammar allows
        no token. With ``masks``, a grammar mask not ready within ``INLINE_MASK_WAIT``
        gives a :class:`MaskWait` instead: pass it to :meth:`finish` once it is ready."""
        matcher, candidates = self._matcher, self._candidates
        if matcher is None or candidates is None:
            context.check_output(index)
            return int(llama_cpp.llama_sampler_sample(self._chain, context.handle, index))
        logits = context.logits(index)
        llama_cpp.llama_sampler_apply(self._chain, candidates.fill(logits))
        token = candidates.selected()
        if matcher.allows(token):
            return self._take(token)
        # refused: mask the vocabulary, then sample again
        if masks is None:
            return self._resample(matcher.compute_mask(), logits)
        wait = MaskWait(logits, masks.submit(matcher))
        try:
            mask = wait.mask.result(timeout=INLINE_MASK_WAIT)
        except FutureTimeout:
            return wait
        return self._resample(mask, logits)

    def finish(self, wait: MaskWait) -> int:
        """The pick :meth:`sample` left waiting, now that its mask is ready."""
        return self._resample(wait.mask.result(), wait.logits.copy())

    def _resample(self, mask: bytes, logits: np.ndarray[Any, np.dtype[np.float32]]) -> int:
        assert self._matcher is not None and self._candidates is not None
        self._matcher.apply_mask(mask, logits)
        llama_cpp.llama_sampler_apply(self._chain, self._candidates.fill(logits))
        return self._take(self._candidates.selected())

    def _take(self, token: int) -> int:
        assert self._matcher is not None
        llama_cpp.llama_sampler_accept(self._chain, token)
        self._matcher.consume(token)
        return token

    def accept(self, token: int) -> None:
        """Record an injected ``token`` in the samplers' state; the grammar sees it only if
        it allows it (an injected end of reasoning is not part of the answer)."""
        llama_cpp.llama_sampler_accept(self._chain, token)
        if self._matcher is not None and self._matcher.allows(token):
            self._matcher.consume(token)

    def close(self) -> None:
        if self._chain:
            llama_cpp.llama_sampler_free(self._chain)
        self._chain = None
        self._matcher = self._candidates = None


def pick_seed(params: SamplingParams, choice: int) -> int:
    """The seed of choice ``choice``: the request's seed + index, else a random one."""
    if params.seed is None:
        return secrets.randbelow(2**31)
    return (params.seed + choice) % 2**32


def _stages(model: LlamaModel, params: SamplingParams, seed: int) -> list[Any]:
    stages: list[Any] = []
    if (params.repetition_penalty != 1.0 or params.presence_penalty != 0.0
            or params.frequency_penalty != 0.0):
        stages.append(llama_cpp.llama_sampler_init_penalties(
            model.n_vocab, PENALTY_WINDOW, params.repetition_penalty,
            params.frequency_penalty, params.presence_penalty,
        ))
    if params.logit_bias:
        stages.append(_logit_bias(model, params.logit_bias))
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


__all__ = ["MaskPool", "MaskWait", "Sampler", "pick_seed", "token_logprob"]
