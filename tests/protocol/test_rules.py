"""Tests of protocol.check_for_model: the model-dependent rules and resolved defaults."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from qwenchat.core import ChatRequest, ModelProfile, ThinkingMode
from qwenchat.errors import InvalidParameter
from qwenchat.protocol import check_for_model, parse_chat_request

USER = {"role": "user", "content": "hi"}
TOOL = {"type": "function", "function": {"name": "f"}}


def profile(
    model_id: str = "qwen-plus",
    thinking: ThinkingMode = ThinkingMode.HYBRID_OFF,
    *,
    supports_tools: bool = True,
    is_translation: bool = False,
) -> ModelProfile:
    return ModelProfile(
        id=model_id,
        thinking=thinking,
        supports_tools=supports_tools,
        is_translation=is_translation,
        context_window=32_768,
        max_output=8_192,
        max_thinking_budget=4_096,
    )


HYBRID_ON = profile("qwen3.6-plus", ThinkingMode.HYBRID_ON)
HYBRID_OFF = profile("qwen-plus", ThinkingMode.HYBRID_OFF)
NO_THINKING = profile("qwen3-coder-plus", ThinkingMode.OFF)
ALWAYS = profile("qwq-plus", ThinkingMode.ALWAYS)
NO_TOOLS = profile("qwen-plus-character-ja", ThinkingMode.OFF, supports_tools=False)
MT = profile("qwen-mt-plus", ThinkingMode.OFF, supports_tools=False, is_translation=True)
TRANSLATE = {"source_lang": "auto", "target_lang": "English"}


def request(model: str, **fields: Any) -> ChatRequest:
    data: dict[str, Any] = {"model": model, "messages": [USER], **fields}
    return parse_chat_request(json.dumps(data).encode())


def check(model_profile: ModelProfile, **fields: Any) -> ChatRequest:
    return check_for_model(request(model_profile.id, **fields), model_profile)


@pytest.mark.parametrize(
    ("model_profile", "asked", "expected"),
    [
        (HYBRID_ON, None, True),
        (HYBRID_ON, False, False),
        (HYBRID_OFF, None, False),
        (HYBRID_OFF, True, True),
        (NO_THINKING, None, False),
        (NO_THINKING, False, False),
        (ALWAYS, None, True),
        (ALWAYS, True, True),
    ],
)
def test_enable_thinking_resolves_to_a_bool(
    model_profile: ModelProfile, asked: bool | None, expected: bool
) -> None:
    assert check(model_profile, enable_thinking=asked).enable_thinking is expected


CASES: list[tuple[str, ModelProfile, dict[str, Any], str, str]] = [
    # (id, profile, request fields, param, message)
    (
        "thinking-on-model-without-thinking",
        NO_THINKING,
        {"enable_thinking": True},
        "enable_thinking",
        "The model qwen3-coder-plus does not support enable_thinking.",
    ),
    (
        "thinking-off-on-always-thinking-model",
        ALWAYS,
        {"enable_thinking": False},
        "enable_thinking",
        "The value of the enable_thinking parameter is restricted to True.",
    ),
    (
        "thinking-budget-above-max",
        HYBRID_ON,
        {"thinking_budget": 4_097},
        "thinking_budget",
        "The thinking_budget parameter must be a positive integer and not greater than 4096",
    ),
    ("n-above-1-while-thinking", HYBRID_ON, {"n": 2}, "n", "n must be 1 in thinking mode."),
    (
        "tool_choice-required-while-thinking",
        HYBRID_ON,
        {"tools": [TOOL], "tool_choice": "required"},
        "tool_choice",
        "The tool_choice parameter does not support being set to required or object in "
        "thinking mode",
    ),
    (
        "tool_choice-named-while-thinking",
        HYBRID_OFF,
        {
            "enable_thinking": True,
            "tools": [TOOL],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
        },
        "tool_choice",
        "The tool_choice parameter does not support being set to required or object in "
        "thinking mode",
    ),
    (
        "partial-while-thinking",
        ALWAYS,
        {"messages": [USER, {"role": "assistant", "content": "Once", "partial": True}]},
        "messages",
        "Partial mode is not supported in thinking mode; set enable_thinking to false.",
    ),
    (
        "tools-on-model-without-tools",
        NO_TOOLS,
        {"tools": [TOOL]},
        "tools",
        "The model qwen-plus-character-ja does not support tools.",
    ),
    (
        "translation-with-system",
        MT,
        {"messages": [{"role": "system", "content": "s"}, USER], "translation_options": TRANSLATE},
        "messages",
        "The model qwen-mt-plus takes exactly one user message (the text to translate) and no "
        "system message.",
    ),
    (
        "translation-multi-turn",
        MT,
        {
            "messages": [USER, {"role": "assistant", "content": "a"}, USER],
            "translation_options": TRANSLATE,
        },
        "messages",
        "The model qwen-mt-plus takes exactly one user message (the text to translate) and no "
        "system message.",
    ),
    (
        "translation-without-options",
        MT,
        {},
        "translation_options",
        "The model qwen-mt-plus requires translation_options with target_lang.",
    ),
    (
        "max_tokens-above-model-cap",
        HYBRID_OFF,
        {"max_tokens": 8_193},
        "max_tokens",
        "Range of max_tokens should be [1, 8192]",
    ),
    (
        "max_completion_tokens-above-model-cap",
        HYBRID_OFF,
        {"max_completion_tokens": 8_193},
        "max_completion_tokens",
        "Range of max_completion_tokens should be [1, 8192]",
    ),
]


@pytest.mark.parametrize(
    ("model_profile", "fields", "param", "message"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_model_rule_violation_is_invalid_parameter(
    model_profile: ModelProfile, fields: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(InvalidParameter) as info:
        check(model_profile, **fields)
    err = info.value
    assert (err.status, err.code, err.type) == (
        400,
        "invalid_parameter_error",
        "invalid_request_error",
    )
    assert err.message == message
    assert err.param == param


@pytest.mark.parametrize(
    ("model_profile", "fields"),
    [
        (HYBRID_OFF, {"n": 4}),
        (HYBRID_ON, {"enable_thinking": False, "n": 4}),
        (HYBRID_OFF, {"tools": [TOOL], "tool_choice": "required"}),
        (HYBRID_ON, {"tools": [TOOL], "tool_choice": "auto"}),
        (HYBRID_ON, {"thinking_budget": 4_096}),
        (HYBRID_OFF, {"thinking_budget": 100_000}),
        (HYBRID_OFF, {"messages": [USER, {"role": "assistant", "content": "x", "partial": True}]}),
        (NO_TOOLS, {"tool_choice": "none"}),
        (MT, {"translation_options": TRANSLATE}),
    ],
    ids=[
        "n-without-thinking",
        "n-thinking-turned-off",
        "required-without-thinking",
        "auto-while-thinking",
        "budget-at-max",
        "budget-ignored-without-thinking",
        "partial-without-thinking",
        "no-tools-given",
        "translation-ok",
    ],
)
def test_allowed_combinations_pass(model_profile: ModelProfile, fields: dict[str, Any]) -> None:
    check(model_profile, **fields)


def test_max_tokens_defaults_to_the_model_cap_and_is_kept_when_in_range() -> None:
    assert check(HYBRID_OFF).sampling.max_tokens == 8_192
    assert check(HYBRID_OFF, max_tokens=8_192).sampling.max_tokens == 8_192
    assert check(HYBRID_OFF, max_tokens=10).sampling.max_tokens == 10


def test_max_completion_tokens_has_no_default_and_is_kept_beside_max_tokens() -> None:
    assert check(HYBRID_OFF).sampling.max_completion_tokens is None
    both = check(HYBRID_OFF, max_tokens=30, max_completion_tokens=8_192).sampling
    assert (both.max_tokens, both.max_completion_tokens) == (30, 8_192)


def test_translation_options_on_other_models_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="qwenchat.protocol")
    assert check(HYBRID_OFF, translation_options=TRANSLATE).translation_options is None
    assert "translation_options ignored" in caplog.text
    kept = check(MT, translation_options=TRANSLATE).translation_options
    assert kept is not None and kept.target_lang == "English"


def test_check_returns_a_new_request_and_changes_nothing_else() -> None:
    original = request("qwen3.6-plus", temperature=0.3, tools=[TOOL])
    checked = check_for_model(original, HYBRID_ON)
    assert original.enable_thinking is None and original.sampling.max_tokens is None
    assert checked.enable_thinking is True and checked.sampling.max_tokens == 8_192
    assert checked.sampling.temperature == 0.3 and checked.tools == original.tools
    assert checked.model == "qwen3.6-plus"
