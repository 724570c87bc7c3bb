"""A chat completion request after wire parsing and model-independent validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from qwenchat.core.messages import Message
from qwenchat.core.sampling import SamplingParams


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """An OpenAI function tool; ``parameters`` is its JSON schema (may be empty)."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_openai(self) -> dict[str, Any]:
        """The tool as OpenAI's ``{"type":"function","function":{...}}`` object."""
        function: dict[str, Any] = {"name": self.name}
        if self.description is not None:
            function["description"] = self.description
        function["parameters"] = self.parameters
        return {"type": "function", "function": function}


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """``auto`` / ``none`` / ``required``, or a forced function ``name``."""

    mode: Literal["auto", "none", "required", "function"] = "auto"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    """``text``, ``json_object`` or ``json_schema`` (with its schema)."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool = False


@dataclass(frozen=True, slots=True)
class TranslationOptions:
    """qwen-mt's ``translation_options``."""

    source_lang: str
    target_lang: str
    terms: tuple[tuple[str, str], ...] = ()
    tm_list: tuple[tuple[str, str], ...] = ()
    domains: str | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """Everything a backend needs to answer one chat completion."""

    model: str
    messages: tuple[Message, ...]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    n: int = 1
    stream: bool = False
    include_usage: bool = False
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    parallel_tool_calls: bool = False
    response_format: ResponseFormat = field(default_factory=ResponseFormat)
    enable_thinking: bool | None = None
    thinking_budget: int | None = None
    preserve_thinking: bool = False
    translation_options: TranslationOptions | None = None
    grammar: str | None = None
    enable_search: bool = False  # DashScope's web search; only a DashScope upstream does it

    @property
    def is_partial(self) -> bool:
        """True when the last message is an assistant prefix to continue."""
        return bool(self.messages) and self.messages[-1].partial
