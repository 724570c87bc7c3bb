"""What a request may generate, which the gateway reserves at admission: max_tokens per
choice (the model's default when unset), plus the thinking budget when it thinks, within
max_completion_tokens and the context left after the prompt."""

from __future__ import annotations

import json
from typing import Any

from qwenchat.catalog.table import BUILTIN_PROFILES
from qwenchat.core import ChatRequest
from qwenchat.protocol import check_for_model, parse_chat_request
from qwenchat.service import max_output_tokens

PLUS = BUILTIN_PROFILES["qwen-plus"]  # thinks when asked; 32768 output, 81920 thinking


def checked(**fields: Any) -> ChatRequest:
    body = {"model": "qwen-plus", "messages": [{"role": "user", "content": "Hi"}], **fields}
    return check_for_model(parse_chat_request(json.dumps(body).encode()), PLUS)


def test_max_tokens_per_choice_is_reserved() -> None:
    assert max_output_tokens(checked(max_tokens=50), PLUS, 10, 100_000) == 50
    assert max_output_tokens(checked(max_tokens=50, n=3), PLUS, 10, 100_000) == 150


def test_an_unset_max_tokens_reserves_the_models_default() -> None:
    assert max_output_tokens(checked(), PLUS, 10, 1_000_000) == PLUS.max_output


def test_thinking_adds_its_budget_or_the_models_maximum() -> None:
    budget = checked(max_tokens=50, enable_thinking=True, thinking_budget=200)
    assert max_output_tokens(budget, PLUS, 10, 1_000_000) == 250
    unbounded = checked(max_tokens=50, enable_thinking=True)
    assert max_output_tokens(unbounded, PLUS, 10, 1_000_000) == 50 + PLUS.max_thinking_budget


def test_the_reservation_never_exceeds_what_the_context_leaves() -> None:
    assert max_output_tokens(checked(max_tokens=5000, n=2), PLUS, 7000, 8192) == 2 * 1192
    assert max_output_tokens(checked(max_tokens=50), PLUS, 9000, 8192) == 0


def test_max_completion_tokens_bounds_reasoning_and_answer_together() -> None:
    total = checked(max_completion_tokens=40, enable_thinking=True, thinking_budget=200)
    assert max_output_tokens(total, PLUS, 10, 1_000_000) == 40
    assert max_output_tokens(checked(max_completion_tokens=40, n=2), PLUS, 10, 1_000_000) == 80
    answer_bound = checked(max_tokens=30, max_completion_tokens=1000)
    assert max_output_tokens(answer_bound, PLUS, 10, 1_000_000) == 30
    assert max_output_tokens(checked(max_completion_tokens=5000), PLUS, 7000, 8192) == 1192
