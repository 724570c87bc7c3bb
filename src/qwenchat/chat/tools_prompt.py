"""Function calling for models whose chat template does not render tools (the starter).

Rules kept here:
- A template "supports tools" when its jinja code names the variable ``tools`` (text outside
  ``{{ }}``/``{% %}`` and string literals does not count).
- For any other template, :func:`inject_tools` writes Qwen3's own tool instructions, word for
  word as Qwen3's chat template renders them (one ``json.dumps(tool, ensure_ascii=False)``
  line per tool, as its ``tojson`` does), into the system message: after the existing system
  text and a blank line, or as a new first system message.
- The history is rewritten as Qwen3's template renders it, so a plain ChatML template then
  produces Qwen3's prompt byte for byte: an assistant's calls become
  ``<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>`` blocks after its text (one
  newline apart; arguments re-serialised from the parsed JSON object, verbatim when they do
  not parse), and each run of consecutive ``tool`` results becomes one user message of
  ``<tool_response>`` blocks. The output parser then reads the model's calls as Qwen3's.
- Without tools only the history is rewritten; no tools prompt is added.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from jinja2 import Environment

from qwenchat.core import Message, Role, ToolCall, ToolSpec
from qwenchat.core.qwen_format import (
    CALL_CLOSE,
    CALL_OPEN,
    CALL_PREFIX,
    CALL_SUFFIX,
    TOOL_RESPONSE_CLOSE,
    TOOL_RESPONSE_OPEN,
    TOOLS_CLOSE,
    TOOLS_OPEN,
)

__all__ = ["inject_tools", "rewrite_tool_history", "template_supports_tools", "tools_block"]

_HEADER = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    f"You are provided with function signatures within {TOOLS_OPEN}{TOOLS_CLOSE} XML tags:\n"
    f"{TOOLS_OPEN}"
)
_FOOTER = (
    f"\n{TOOLS_CLOSE}\n\nFor each function call, return a json object with function name and "
    f"arguments within {CALL_OPEN}{CALL_CLOSE} XML tags:\n{CALL_PREFIX}"
    f'{{"name": <function-name>, "arguments": <args-json-object>}}{CALL_SUFFIX}'
)


def template_supports_tools(source: str) -> bool:
    """Whether the jinja code of a chat template refers to ``tools``."""
    # Lexing (about 50 µs for Qwen3's template) rather than parsing (about 8 ms): this runs
    # for every request, and a name token is all that is asked.
    tokens = Environment().lex(source)
    return any(kind == "name" and value == "tools" for _, kind, value in tokens)


def tools_block(tools: Sequence[ToolSpec]) -> str:
    """Qwen3's tool instructions for ``tools``, as its chat template writes them."""
    lines = "".join("\n" + json.dumps(tool.to_openai(), ensure_ascii=False) for tool in tools)
    return _HEADER + lines + _FOOTER


def inject_tools(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> tuple[Message, ...]:
    """``messages`` with the tools prompt in the system message and tool history as text."""
    history = rewrite_tool_history(messages)
    if not tools:
        return history
    block = tools_block(tools)
    if history and history[0].role is Role.SYSTEM:
        first = history[0]
        return (dataclasses.replace(first, content=first.content + "\n\n" + block),
                *history[1:])
    return (Message(Role.SYSTEM, block), *history)


def rewrite_tool_history(messages: Sequence[Message]) -> tuple[Message, ...]:
    """Assistant calls as ``<tool_call>`` text; tool results as user ``<tool_response>``s."""
    result: list[Message] = []
    responses: list[str] = []  # a run of consecutive tool results, merged into one message
    for message in messages:
        if message.role is Role.TOOL:
            responses.append(f"{TOOL_RESPONSE_OPEN}\n{message.content}\n{TOOL_RESPONSE_CLOSE}")
            continue
        if responses:
            result.append(Message(Role.USER, "\n".join(responses)))
            responses = []
        if message.role is Role.ASSISTANT and message.tool_calls:
            calls = "\n".join(_call_text(call) for call in message.tool_calls)
            text = f"{message.content}\n{calls}" if message.content else calls
            result.append(dataclasses.replace(message, content=text, tool_calls=()))
        else:
            result.append(message)
    if responses:
        result.append(Message(Role.USER, "\n".join(responses)))
    return tuple(result)


def _call_text(call: ToolCall) -> str:
    try:
        arguments = json.dumps(json.loads(call.arguments), ensure_ascii=False)
    except ValueError:  # Qwen3's template writes argument strings verbatim
        arguments = call.arguments
    return f'{CALL_PREFIX}{{"name": "{call.name}", "arguments": {arguments}}}{CALL_SUFFIX}'
