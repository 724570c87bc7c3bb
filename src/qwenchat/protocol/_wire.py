"""Pydantic models of the chat-completion request body, in docs/api.md's field order.

Rules kept here:
- JSON types only (strict mode): ``"0.5"`` is not a number, ``1`` is not a boolean, but an
  integer is a valid number.
- Every field but ``model`` and ``messages`` is optional, and ``null`` means "not given".
- Unknown fields are kept in ``model_extra``; the parser logs them and goes on.
- Fields whose JSON type is a union (``content``, ``stop``, ``tool_choice``) are ``Any`` here
  and checked by hand, so that their error messages name the rule instead of listing every
  branch of a union.

Value ranges and cross-field rules live beside the conversion to core values.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class WireFunctionCall(_Wire):
    """``tool_calls[].function`` of an assistant message in the history."""

    name: str
    arguments: str


class WireToolCall(_Wire):
    """One entry of an assistant message's ``tool_calls``."""

    id: str | None = None
    type: str | None = None
    function: WireFunctionCall


class WireMessage(_Wire):
    """One entry of ``messages``."""

    role: str
    content: Any = None
    name: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[WireToolCall] | None = None
    tool_call_id: str | None = None
    partial: bool | None = None


class WireStreamOptions(_Wire):
    """``stream_options``."""

    include_usage: bool | None = None


class WireFunction(_Wire):
    """``tools[].function``."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class WireTool(_Wire):
    """One entry of ``tools``."""

    type: str = "function"
    function: WireFunction


class WireJsonSchema(_Wire):
    """``response_format.json_schema``."""

    name: str | None = None
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class WireResponseFormat(_Wire):
    """``response_format``; ``strict`` is accepted inside or beside ``json_schema``."""

    type: str
    json_schema: WireJsonSchema | None = None
    strict: bool | None = None


class WireTermPair(_Wire):
    """A ``{source, target}`` pair of ``terms`` or ``tm_list``."""

    source: str
    target: str


class WireTranslationOptions(_Wire):
    """qwen-mt's ``translation_options``."""

    source_lang: str | None = None
    target_lang: str
    terms: list[WireTermPair] | None = None
    tm_list: list[WireTermPair] | None = None
    domains: str | None = None


class WireChatRequest(_Wire):
    """The body of ``POST /chat/completions``."""

    model: str
    messages: list[WireMessage]
    stream: bool | None = None
    stream_options: WireStreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int | None = None
    seed: int | None = None
    stop: Any = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[WireTool] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    response_format: WireResponseFormat | None = None
    enable_thinking: bool | None = None
    thinking_budget: int | None = None
    preserve_thinking: bool | None = None
    translation_options: WireTranslationOptions | None = None
    enable_search: bool | None = None
    search_options: dict[str, Any] | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    grammar: str | None = None
