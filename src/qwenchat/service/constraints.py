"""Which grammar, if any, constrains a request's answer.

In order: a raw ``grammar`` (the GBNF extension, which alone constrains the whole output,
reasoning included: tests use it to make a model emit exact Qwen3 output); a forced tool call
(``tool_choice``
``required``: any of the tools, several when ``parallel_tool_calls``; a named function: that
one); ``response_format`` ``json_object`` or ``json_schema``. The engine applies the grammar
from the first answer token, after any reasoning — so a JSON schema never constrains the
thinking, and thinking models can still return structured output.
"""

from __future__ import annotations

from collections.abc import Sequence

from qwenchat.core import ChatRequest, ToolSpec
from qwenchat.engine import json_object_grammar, json_schema_grammar, tool_call_grammar
from qwenchat.errors import InvalidParameter


def answer_grammar(request: ChatRequest, tools: Sequence[ToolSpec]) -> str | None:
    """The GBNF text for ``request``'s answer, or None when it is free."""
    if request.grammar is not None:
        return request.grammar
    choice = request.tool_choice
    if tools and choice.mode == "required":
        return tool_call_grammar(tools, parallel=request.parallel_tool_calls)
    if tools and choice.mode == "function":
        return tool_call_grammar([tool for tool in tools if tool.name == choice.name])
    response_format = request.response_format
    if response_format.type == "json_object":
        return json_object_grammar()
    if response_format.type == "json_schema":
        try:
            return json_schema_grammar(response_format.schema or {"type": "object"})
        # the converter reports unsupported schemas with assert, among others
        except (AssertionError, ValueError, KeyError, TypeError, NotImplementedError) as exc:
            raise InvalidParameter(
                f"The json_schema cannot be enforced: {exc}", param="response_format"
            ) from exc
    return None
