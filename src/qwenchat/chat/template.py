"""Render a model's own chat template (jinja2, as Hugging Face does) in a sandbox.

The environment mirrors transformers' chat-template environment: ``trim_blocks`` and
``lstrip_blocks``, the loop-controls extension, ``raise_exception`` and ``strftime_now``
globals, and a ``tojson`` that keeps key order and non-ASCII text (jinja2's built-in escapes
HTML and sorts keys, which changes Qwen's tool prompts). Templates run in jinja2's immutable
sandbox: a template cannot reach Python internals or mutate its inputs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NoReturn

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from qwenchat.core import Message, ToolSpec
from qwenchat.errors import InvalidParameter

# Used when a GGUF carries no template: plain ChatML, which Qwen and SmolLM both speak.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _raise_exception(message: str) -> NoReturn:
    raise TemplateError(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii,
                      separators=separators, sort_keys=sort_keys)


class ChatTemplate:
    """A compiled chat template plus the special-token strings it may refer to."""

    def __init__(self, source: str | None, *, bos_token: str = "", eos_token: str = "") -> None:
        environment = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
        )
        environment.filters["tojson"] = _tojson
        environment.globals["raise_exception"] = _raise_exception
        environment.globals["strftime_now"] = _strftime_now
        self.source = source or CHATML_TEMPLATE
        self._template = environment.from_string(self.source)
        self._bos_token = bos_token
        self._eos_token = eos_token

    def render(self, messages: Sequence[Message], *, tools: Sequence[ToolSpec] = (),
               add_generation_prompt: bool = True, enable_thinking: bool | None = None,
               keep_reasoning: bool = False) -> str:
        """The prompt text for ``messages``; template errors become a 400."""
        variables: dict[str, Any] = {
            "messages": [_message_dict(m, keep_reasoning) for m in messages],
            "add_generation_prompt": add_generation_prompt,
            "bos_token": self._bos_token,
            "eos_token": self._eos_token,
        }
        if tools:
            variables["tools"] = [tool.to_openai() for tool in tools]
        if enable_thinking is not None:
            variables["enable_thinking"] = enable_thinking
        if keep_reasoning:  # newer Qwen templates read this switch; older ones ignore it
            variables["preserve_thinking"] = True
        try:
            return self._template.render(**variables)
        except TemplateError as exc:
            raise InvalidParameter(f"The messages could not be rendered: {exc}") from exc


def _message_dict(message: Message, keep_reasoning: bool) -> dict[str, Any]:
    """A message as the OpenAI-shaped dict that Hugging Face chat templates expect."""
    result: dict[str, Any] = {"role": message.role.value, "content": message.content}
    if keep_reasoning and message.reasoning_content:
        result["reasoning_content"] = message.reasoning_content
    if message.tool_calls:
        result["tool_calls"] = [
            {"id": call.id, "type": "function",
             "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        result["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        result["name"] = message.name
    return result
