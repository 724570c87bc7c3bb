"""Sampling fields of the request: DashScope's ranges, then ``core.SamplingParams``.

Rules kept here (messages are DashScope's where it has one, see docs/api.md):
temperature [0, 2); top_p (0, 1]; top_k >= 0, where null, 0 or > 100 means off; presence and
frequency penalty [-2, 2]; repetition_penalty > 0; max_tokens and max_completion_tokens >= 1
(the model's cap is checked later, in ``_rules``); n 1..4; seed [0, 2^31-1]; top_logprobs
0..5 (and 0 unless logprobs is true); stop is a string, a list of strings or a list of
token-id lists, never a mix; logit_bias maps token-id strings to [-100, 100].
"""

from __future__ import annotations

from typing import Any

from qwenchat.core import SamplingParams
from qwenchat.errors import InvalidParameter
from qwenchat.protocol._wire import WireChatRequest

MAX_SEED = 2**31 - 1
MAX_N = 4
MAX_TOP_LOGPROBS = 5
TOP_K_OFF_ABOVE = 100
STOP_SHAPE = (
    "Invalid value for 'stop': use a string, a list of strings or a list of token-id lists "
    "(lists of non-negative integers), never a mix."
)


def _reject(message: str, param: str) -> InvalidParameter:
    return InvalidParameter(message, param=param)


def check_ranges(wire: WireChatRequest) -> None:
    """Raise ``InvalidParameter`` for the first out-of-range sampling field."""
    t, p = wire.temperature, wire.top_p
    if t is not None and not 0.0 <= t < 2.0:
        raise _reject("Temperature should be in [0.0, 2.0)", "temperature")
    if p is not None and not 0.0 < p <= 1.0:
        raise _reject("Range of top_p should be (0.0, 1.0]", "top_p")
    if wire.top_k is not None and wire.top_k < 0:
        raise _reject(
            "top_k should be a non-negative integer (null, 0 or a value above 100 turns top-k off)",
            "top_k",
        )
    for name in ("presence_penalty", "frequency_penalty"):
        value = getattr(wire, name)
        if value is not None and not -2.0 <= value <= 2.0:
            raise _reject(f"Range of {name} should be [-2.0, 2.0]", name)
    if wire.repetition_penalty is not None and not wire.repetition_penalty > 0.0:
        raise _reject("repetition_penalty should be greater than 0", "repetition_penalty")
    for name in ("max_tokens", "max_completion_tokens"):
        value = getattr(wire, name)
        if value is not None and value < 1:
            raise _reject(f"{name} should be greater than or equal to 1", name)
    if wire.n is not None and not 1 <= wire.n <= MAX_N:
        raise _reject(f"Range of n should be [1, {MAX_N}]", "n")
    if wire.seed is not None and not 0 <= wire.seed <= MAX_SEED:
        raise _reject(f"Range of seed should be [0, {MAX_SEED}]", "seed")
    top = wire.top_logprobs
    if top is not None and not 0 <= top <= MAX_TOP_LOGPROBS:
        raise _reject(f"Range of top_logprobs should be [0, {MAX_TOP_LOGPROBS}]", "top_logprobs")


MAX_TOKEN_ID = 2**31 - 1  # llama.cpp's token ids are int32


def _is_token_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN_ID


def parse_stop(value: Any) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]:
    """``stop`` as (stop strings, stop token-id sequences)."""
    if value is None:
        return (), ()
    if isinstance(value, str):
        return (value,), ()
    if not isinstance(value, list):
        raise _reject(STOP_SHAPE, "stop")
    if all(isinstance(item, str) for item in value):
        return tuple(value), ()
    if all(
        isinstance(item, list) and item and all(_is_token_id(i) for i in item) for item in value
    ):
        return (), tuple(tuple(item) for item in value)
    raise _reject(STOP_SHAPE, "stop")


def parse_logit_bias(value: dict[str, float] | None) -> tuple[tuple[int, float], ...]:
    """``logit_bias`` as sorted (token id, bias) pairs."""
    if not value:
        return ()
    pairs: list[tuple[int, float]] = []
    for key, bias in value.items():
        if not (key.isascii() and key.isdigit()) or int(key) > MAX_TOKEN_ID:
            raise _reject(f"Invalid key in 'logit_bias': '{key}' is not a token id", "logit_bias")
        if not -100.0 <= bias <= 100.0:
            raise _reject("Range of logit_bias values should be [-100, 100]", "logit_bias")
        pairs.append((int(key), float(bias)))
    return tuple(sorted(pairs))


def build_sampling(wire: WireChatRequest) -> SamplingParams:
    """Check the ranges and return the request's ``SamplingParams``."""
    check_ranges(wire)
    stop, stop_token_ids = parse_stop(wire.stop)
    top_k = wire.top_k
    if top_k is not None and (top_k == 0 or top_k > TOP_K_OFF_ABOVE):
        top_k = None
    return SamplingParams(
        temperature=wire.temperature,
        top_p=wire.top_p,
        top_k=top_k,
        presence_penalty=wire.presence_penalty or 0.0,
        frequency_penalty=wire.frequency_penalty or 0.0,
        repetition_penalty=(1.0 if wire.repetition_penalty is None else wire.repetition_penalty),
        seed=wire.seed,
        max_tokens=wire.max_tokens,
        max_completion_tokens=wire.max_completion_tokens,
        stop=stop,
        stop_token_ids=stop_token_ids,
        logprobs=bool(wire.logprobs),
        top_logprobs=(wire.top_logprobs or 0) if wire.logprobs else 0,
        logit_bias=parse_logit_bias(wire.logit_bias),
    )
