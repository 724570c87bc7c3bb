"""Grammars for constrained answers: JSON objects, JSON schemas, forced tool calls, raw GBNF.

Each function returns an llguidance grammar (the text :class:`~qwenchat.engine.constraint.
GrammarCompiler` compiles), written in llguidance's Lark dialect, where ``%json {...}``
inlines a JSON schema compiled by llguidance's own JSON-schema compiler. Each lets the answer
start with up to two whitespace characters (a Qwen3 answer follows ``</think>`` and a blank
line). A forced tool call is Qwen3's Hermes form, ``<tool_call>\\n{"name": ...,
"arguments": {...}}\\n</tool_call>``, whose arguments follow the function's ``parameters``
schema; with ``parallel`` several calls may follow each other.

The ``grammar`` request extension is llama.cpp's GBNF, converted to the same dialect; GBNF
that cannot be converted is a ``ValueError`` here. Nothing of a grammar reaches llama.cpp.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from llguidance import LLMatcher, grammar_from

from qwenchat.core import ToolSpec
from qwenchat.core.qwen_format import CALL_PREFIX, CALL_SUFFIX

# A little whitespace may open the answer (Qwen3 writes a blank line after </think>); bounded,
# so that a model cannot spend its whole max_tokens on blanks.
# Whitespace between JSON tokens: none, a space, or a new line and up to 20 spaces or tabs
# (as llama.cpp's converter allowed), so a model cannot spend max_tokens on blank lines.
_JSON_OPTIONS = {"whitespace_pattern": r"(?: |\n[ \t]{0,20})?"}
# keywords whose values are JSON data, not schemas
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
_LEADING_SPACE = "start: SPACE? SPACE? {body}\nSPACE: /[ \\t\\n]/\n"


def json_object_grammar() -> str:
    """Any JSON object."""
    return json_schema_grammar({"type": "object"})


def json_schema_grammar(schema: dict[str, Any]) -> str:
    """JSON that validates against ``schema`` (checked when compiled)."""
    lark = _LEADING_SPACE.format(body="answer") + f"answer: %json {_schema_text(schema)}\n"
    return LLMatcher.grammar_from_lark(lark)


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
    calls = 'tool_call ("\\n" tool_call)*' if parallel else "tool_call"
    lark = (_LEADING_SPACE.format(body=calls)
            + f"tool_call: {_literal(CALL_PREFIX)} tool_call_json {_literal(CALL_SUFFIX)}\n"
            + f"tool_call_json: %json {_schema_text(schema)}\n")
    return LLMatcher.grammar_from_lark(lark)


def gbnf_grammar(gbnf: str) -> str:
    """llama.cpp GBNF text (a ``root`` rule) in llguidance's form; ``ValueError`` if it
    cannot be converted."""
    try:
        return grammar_from("gbnf", gbnf)
    except ValueError:
        raise
    except Exception as exc:  # the converter is a parser of untrusted text: any fault is a 400
        raise ValueError(f"the grammar could not be read ({type(exc).__name__})") from exc


def _literal(text: str) -> str:
    """``text`` as a Lark string literal."""
    return json.dumps(text, ensure_ascii=False)


def _schema_text(schema: dict[str, Any]) -> str:
    # llguidance orders object properties as the schema lists them (``name`` before
    # ``arguments``); compact JSON keeps the grammar small
    closed = _closed(schema)
    if isinstance(closed, dict):  # a schema's own compile options are replaced by ours
        closed["x-guidance"] = _JSON_OPTIONS
    return json.dumps(closed, ensure_ascii=False, separators=(",", ":"))


def _closed(schema: Any) -> Any:
    """``schema`` with ``"additionalProperties": false`` on every object schema that lists
    ``properties`` and says nothing about others: what is generated still validates, and
    the model cannot wander off into invented keys (llama.cpp's converter did the same).
    Schemas are at most 32 levels deep (protocol bounds), so recursion is safe."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: value if key in _DATA_KEYWORDS else _closed(value)
              for key, value in schema.items()}
    if isinstance(schema.get("properties"), dict) and "additionalProperties" not in schema:
        closed["additionalProperties"] = False
    return closed
