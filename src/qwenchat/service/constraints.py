"""Which grammar, if any, constrains a request's answer on a local engine.

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
from dataclasses import dataclass

from qwenchat.core import ChatRequest, ToolSpec
from qwenchat.engine import (
    gbnf_grammar,
    json_object_grammar,
    json_schema_grammar,
    tool_call_grammar,
)
from qwenchat.errors import InvalidParameter


@dataclass(frozen=True, slots=True)
class AnswerGrammar:
    """A grammar for ``LocalEngine.compile_grammar``, and the request field it comes from
    (named by the 400 when it cannot be compiled)."""

    text: str
    what: str
    param: str


def answer_grammar(request: ChatRequest, tools: Sequence[ToolSpec]) -> AnswerGrammar | None:
    """The grammar of ``request``'s answer, or None when it is free; a GBNF ``grammar``
    that cannot be read is a 400."""
    if request.grammar is not None:
        try:
            return AnswerGrammar(gbnf_grammar(request.grammar), "grammar", "grammar")
        except ValueError as exc:
            raise InvalidParameter(f"The grammar could not be parsed: {exc}",
                                   param="grammar") from exc
    choice = request.tool_choice
    if tools and choice.mode in ("required", "function"):
        forced = [tool for tool in tools if choice.mode == "required" or tool.name == choice.name]
        text = tool_call_grammar(forced, parallel=request.parallel_tool_calls
                                 and choice.mode == "required")
        return AnswerGrammar(text, "tools' parameters schema", "tools")
    response_format = request.response_format
    if response_format.type == "json_object":
        return AnswerGrammar(json_object_grammar(), "json_object", "response_format")
    if response_format.type == "json_schema":
        schema = response_format.schema or {"type": "object"}
        return AnswerGrammar(json_schema_grammar(schema), "json_schema", "response_format")
    return None
