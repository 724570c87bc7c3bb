"""GBNF grammars for constrained answers: JSON objects, JSON schemas, forced tool calls.

JSON schemas are converted with llama-cpp-python's port of llama.cpp's schema converter.
Each grammar lets the answer start with up to two whitespace characters (a Qwen3 answer
follows ``</think>`` and a blank line). A forced tool call is Qwen3's Hermes form,
``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``, whose arguments follow the
function's ``parameters`` schema; with ``parallel`` several calls may follow each other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from llama_cpp.llama_grammar import json_schema_to_gbnf

from qwenchat.core import ToolSpec

_ROOT = re.compile(r"^root ::=", re.M)
# A little whitespace may open the answer (Qwen3 writes a blank line after </think>); bounded,
# so that a model cannot spend its whole max_tokens on blanks.
_LEADING_SPACE = "[ \\t\\n]? [ \\t\\n]?"


def json_object_grammar() -> str:
    """Any JSON object."""
    return _with_leading_space(json_schema_to_gbnf(json.dumps({"type": "object"})))


def json_schema_grammar(schema: dict[str, Any]) -> str:
    """JSON that validates against ``schema`` (an unsupported schema raises ValueError)."""
    return _with_leading_space(json_schema_to_gbnf(json.dumps(schema)))


def tool_call_grammar(tools: Sequence[ToolSpec], *, parallel: bool = False) -> str:
    """One (or, with ``parallel``, one or more) calls of ``tools`` in Qwen3's Hermes form."""
    alternatives = [
        {"type": "object",
         "properties": {"name": {"const": tool.name},
                        "arguments": tool.parameters or {"type": "object"}},
         "required": ["name", "arguments"]}
        for tool in tools
    ]
    schema = alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
    body = _ROOT.sub("tool-call-json ::=",
                     json_schema_to_gbnf(json.dumps(schema), prop_order=["name", "arguments"]))
    call = 'tool-call ::= "<tool_call>\\n" tool-call-json "\\n</tool_call>"'
    root = f"root ::= {_LEADING_SPACE} tool-call" + (' ("\\n" tool-call)*' if parallel else "")
    return f"{root}\n{call}\n{body}"


def _with_leading_space(grammar: str) -> str:
    return _ROOT.sub("answer ::=", grammar) + f"\nroot ::= {_LEADING_SPACE} answer\n"
