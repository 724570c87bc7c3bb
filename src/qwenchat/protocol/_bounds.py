"""The stated bounds of a chat request: every size, count and depth a client controls.

Each bound is DashScope's where it documents one, OpenAI's where DashScope is silent (at
most 4 ``stop`` entries, 128 tools, 64-character tool names, 300 ``logit_bias`` entries),
and ours otherwise; docs/api.md lists them all. A request over a bound gets a 400
``invalid_parameter_error`` naming the field and the limit. They are checked before any
other rule, on the parsed body (the body's byte size is capped while it is read, in the
api layer), so that later rules and the engine only ever see bounded values.

Depth is measured iteratively: a body nested thousands of levels deep is refused here,
never by a ``RecursionError`` further in.
"""

from __future__ import annotations

import json
from typing import Any

from qwenchat.errors import InvalidBody, InvalidParameter
from qwenchat.protocol._wire import WireChatRequest, WireMessage

MAX_JSON_DEPTH = 64  # nesting of the whole body (objects and arrays)
MAX_MODEL_ID = 256  # characters
MAX_MESSAGES = 2048
MAX_CONTENT_PARTS = 256  # text parts of one message
MAX_TOOL_CALLS = 128  # tool calls of one assistant message in the history
MAX_STOP = 4  # OpenAI's limit
MAX_STOP_CHARS = 256  # characters of one stop string
MAX_STOP_TOKENS = 64  # token ids of one stop sequence
MAX_TOOLS = 128  # OpenAI's limit
MAX_TOOL_NAME = 64  # OpenAI's limit
MAX_SCHEMA_BYTES = 64 * 1024  # one JSON schema (response format or tool parameters), as JSON
MAX_SCHEMA_DEPTH = 32  # nesting inside one JSON schema
MAX_LOGIT_BIAS = 300  # OpenAI's limit
MAX_TOKEN_ID_DIGITS = 10  # a token id key of logit_bias ("4294967295" at most)
MAX_GRAMMAR_BYTES = 64 * 1024  # the GBNF ``grammar`` extension, UTF-8
MAX_GRAMMAR_NESTING = 32  # parentheses inside the grammar
MAX_TRANSLATION_PAIRS = 1024  # terms + tm_list of translation_options


def json_depth(value: Any) -> int:
    """Nesting depth of a JSON value: 0 for a scalar, 1 for a flat object or array."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:  # deeper than any bound: stop walking
            return depth
        stack.extend((child, depth) for child in children)
    return deepest


def check_body_depth(data: dict[str, Any]) -> None:
    """``InvalidBody`` for a body nested deeper than ``MAX_JSON_DEPTH``."""
    if json_depth(data) > MAX_JSON_DEPTH:
        raise InvalidBody(
            f"Required body invalid: JSON nested deeper than {MAX_JSON_DEPTH} levels."
        )


def _too_many(param: str, limit: int, what: str = "entries") -> InvalidParameter:
    return InvalidParameter(f"'{param}' has too many {what}: at most {limit} are allowed.",
                            param=param)


def _too_long(param: str, limit: int, unit: str) -> InvalidParameter:
    return InvalidParameter(f"'{param}' is too long: at most {limit} {unit} are allowed.",
                            param=param)


def check_schema(schema: Any, param: str) -> None:
    """A JSON schema's size and nesting (``response_format`` and tool ``parameters``)."""
    if schema is None:
        return
    if json_depth(schema) > MAX_SCHEMA_DEPTH:
        raise InvalidParameter(
            f"'{param}' is nested too deeply: at most {MAX_SCHEMA_DEPTH} levels are allowed.",
            param=param)
    size = len(json.dumps(schema, ensure_ascii=False).encode("utf-8"))
    if size > MAX_SCHEMA_BYTES:
        raise _too_long(param, MAX_SCHEMA_BYTES, "bytes of JSON")


def _check_messages(messages: list[WireMessage]) -> None:
    if len(messages) > MAX_MESSAGES:
        raise _too_many("messages", MAX_MESSAGES, "messages")
    for i, message in enumerate(messages):
        if isinstance(message.content, list) and len(message.content) > MAX_CONTENT_PARTS:
            raise _too_many(f"messages[{i}].content", MAX_CONTENT_PARTS, "parts")
        if message.tool_calls and len(message.tool_calls) > MAX_TOOL_CALLS:
            raise _too_many(f"messages[{i}].tool_calls", MAX_TOOL_CALLS, "tool calls")


def _check_stop(stop: Any) -> None:
    if not isinstance(stop, list):
        if isinstance(stop, str) and len(stop) > MAX_STOP_CHARS:
            raise _too_long("stop", MAX_STOP_CHARS, "characters")
        return
    if len(stop) > MAX_STOP:
        raise _too_many("stop", MAX_STOP)
    for j, entry in enumerate(stop):
        if isinstance(entry, str) and len(entry) > MAX_STOP_CHARS:
            raise _too_long(f"stop[{j}]", MAX_STOP_CHARS, "characters")
        if isinstance(entry, list) and len(entry) > MAX_STOP_TOKENS:
            raise _too_long(f"stop[{j}]", MAX_STOP_TOKENS, "token ids")


def _check_tools(wire: WireChatRequest) -> None:
    tools = wire.tools or []
    if len(tools) > MAX_TOOLS:
        raise _too_many("tools", MAX_TOOLS, "tools")
    for i, tool in enumerate(tools):
        if len(tool.function.name) > MAX_TOOL_NAME:
            raise _too_long(f"tools[{i}].function.name", MAX_TOOL_NAME, "characters")
        check_schema(tool.function.parameters, f"tools[{i}].function.parameters")


def _check_constraints(wire: WireChatRequest) -> None:
    response_format = wire.response_format
    if response_format is not None and response_format.json_schema is not None:
        check_schema(response_format.json_schema.schema_,
                     "response_format.json_schema.schema")
    if wire.grammar:
        if len(wire.grammar.encode("utf-8", errors="replace")) > MAX_GRAMMAR_BYTES:
            raise _too_long("grammar", MAX_GRAMMAR_BYTES, "bytes")
        if grammar_nesting(wire.grammar) > MAX_GRAMMAR_NESTING:
            raise InvalidParameter(
                f"'grammar' is nested too deeply: at most {MAX_GRAMMAR_NESTING} levels of "
                "parentheses are allowed.", param="grammar")


def grammar_nesting(grammar: str) -> int:
    """The deepest parenthesis nesting of GBNF text, outside quoted strings, character
    classes and comments (an over-estimate is safe: it only refuses earlier)."""
    deepest = depth = 0
    i, end = 0, len(grammar)
    while i < end:
        char = grammar[i]
        if char in "\"[":
            close = '"' if char == '"' else "]"
            i += 1
            while i < end and grammar[i] != close:
                i += 2 if grammar[i] == "\\" else 1
        elif char == "#":
            while i < end and grammar[i] != "\n":
                i += 1
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(0, depth - 1)
        i += 1
    return deepest


def _check_sampling(wire: WireChatRequest) -> None:
    _check_stop(wire.stop)
    bias = wire.logit_bias or {}
    if len(bias) > MAX_LOGIT_BIAS:
        raise _too_many("logit_bias", MAX_LOGIT_BIAS)
    for key in bias:
        if len(key) > MAX_TOKEN_ID_DIGITS:
            raise InvalidParameter(
                f"Invalid key in 'logit_bias': '{key[:16]}…' is not a token id.",
                param="logit_bias")


def check_bounds(wire: WireChatRequest) -> None:
    """Raise ``InvalidParameter`` for the first field over its bound."""
    if len(wire.model) > MAX_MODEL_ID:
        raise _too_long("model", MAX_MODEL_ID, "characters")
    _check_messages(wire.messages)
    _check_sampling(wire)
    _check_tools(wire)
    _check_constraints(wire)
    options = wire.translation_options
    if options is not None:
        pairs = len(options.terms or ()) + len(options.tm_list or ())
        if pairs > MAX_TRANSLATION_PAIRS:
            raise _too_many("translation_options", MAX_TRANSLATION_PAIRS, "terms and tm_list pairs")
