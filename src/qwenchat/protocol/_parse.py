"""Request body bytes -> ``core.ChatRequest`` (with the body's JSON object: ``ChatBody``),
with every model-independent rule of docs/api.md.

The boundary rules kept here:
- bytes that are not a JSON object (bad UTF-8, bad JSON, NaN/Infinity, numbers too large for
  a float, nesting deeper than ``_bounds.MAX_JSON_DEPTH``, lone surrogate escapes, or a
  non-object top level) raise ``InvalidBody``;
- every size and count of ``_bounds`` is checked before any other rule;
- pydantic's ``ValidationError`` never leaves this module: the first error becomes one
  ``InvalidParameter`` whose message and ``param`` name the field ("messages[0].role");
- unknown fields are accepted and logged by name (never by value) on ``qwenchat.protocol``,
  except those ``_extras`` refuses (they would change the answer, and cannot be honoured).
Model-dependent rules (thinking, max_tokens cap, tools support, translation) are in ``_rules``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from qwenchat.core import ChatRequest, TranslationOptions
from qwenchat.errors import InvalidBody, InvalidParameter
from qwenchat.protocol._bounds import TOO_DEEP, check_body_depth, check_bounds
from qwenchat.protocol._constraints import build_response_format, check_grammar
from qwenchat.protocol._extras import check_extras
from qwenchat.protocol._messages import build_messages
from qwenchat.protocol._sampling import build_sampling
from qwenchat.protocol._tools import build_tool_choice, build_tools
from qwenchat.protocol._wire import WireChatRequest, WireTranslationOptions

logger = logging.getLogger("qwenchat.protocol")

_EXPECTED = MappingProxyType(
    {
        "float_type": "a number",
        "int_type": "an integer",
        "bool_type": "a boolean",
        "string_type": "a string",
        "list_type": "an array",
        "dict_type": "an object",
        "model_type": "an object",
    }
)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text}")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ``InvalidBody``."""
    try:
        data = json.loads(body, parse_float=_finite_float, parse_constant=_reject_constant)
    except RecursionError as exc:  # nested thousands deep: past any bound
        raise InvalidBody(TOO_DEEP) from exc
    except ValueError as exc:
        raise InvalidBody() from exc
    if not isinstance(data, dict):
        raise InvalidBody()
    check_body_depth(data)
    if _may_hold_surrogates(body):  # they decode to lone surrogates no model can tokenize
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidBody() from exc
    return data


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE_UTF8 = re.compile(rb"\xed[\xa0-\xbf]")


def _may_hold_surrogates(body: bytes) -> bool:
    """Whether ``body`` has a surrogate, escaped or encoded (a cheap scan: re-encoding a
    body of megabytes to find out would hold the GIL for tens of milliseconds)."""
    return bool((b"\\u" in body and _SURROGATE_ESCAPE.search(body))
                or (b"\xed" in body and _SURROGATE_UTF8.search(body)))


def model_named_in(body: bytes) -> str:
    """The model a refused request asked for, for its ledger row ("" if unreadable)."""
    try:
        model = decode_body(body).get("model") if body else None
    except InvalidBody:
        return ""
    return model[:200] if isinstance(model, str) else ""


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path


def _translate(error: ErrorDetails) -> InvalidParameter:
    path = _path(error["loc"])
    kind = error["type"]
    if kind == "missing":
        return InvalidParameter(f"Missing required parameter: '{path}'.", param=path)
    expected = _EXPECTED.get(kind)
    if expected is not None:
        got = _json_kind(error["input"])
        return InvalidParameter(
            f"Invalid type for '{path}': expected {expected}, but got {got} instead.",
            param=path,
        )
    return InvalidParameter(f"Invalid value for '{path}': {error['msg']}.", param=path)


def _validate(data: dict[str, Any]) -> WireChatRequest:
    try:
        return WireChatRequest.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc.errors()[0]) from exc


def _log_unknown(wire: WireChatRequest) -> None:
    names = sorted(wire.model_extra or {})
    if wire.stream_options is not None:
        names += [f"stream_options.{name}" for name in sorted(wire.stream_options.model_extra
                                                              or {})]
    for i, message in enumerate(wire.messages):
        names += [f"messages[{i}].{name}" for name in sorted(message.model_extra or {})]
    if names:
        logger.info("accepted and ignored unknown request fields: %s", ", ".join(names))


def _translation(wire: WireTranslationOptions | None) -> TranslationOptions | None:
    if wire is None:
        return None
    return TranslationOptions(
        source_lang=wire.source_lang or "auto",
        target_lang=wire.target_lang,
        terms=tuple((pair.source, pair.target) for pair in wire.terms or ()),
        tm_list=tuple((pair.source, pair.target) for pair in wire.tm_list or ()),
        domains=wire.domains,
    )


def _check_stream_options(wire: WireChatRequest) -> bool:
    """Whether the usage chunk was asked for; ``stream_options`` needs ``stream``."""
    if wire.stream_options is None:
        return False
    if not wire.stream:
        raise InvalidParameter(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    return bool(wire.stream_options.include_usage)


def _check_thinking_budget(budget: int | None) -> int | None:
    if budget is not None and budget < 1:
        raise InvalidParameter(
            "The thinking_budget parameter must be a positive integer", param="thinking_budget"
        )
    return budget


@dataclass(frozen=True, slots=True)
class ChatBody:
    """A ``/chat/completions`` body, parsed once: the checked request, and the JSON object
    as the client sent it (what an upstream forwards, field by field)."""

    request: ChatRequest
    fields: Mapping[str, Any]


def parse_chat_body(body: bytes) -> ChatBody:
    """Parse and check a ``/chat/completions`` body, keeping its JSON object; raises
    ``InvalidBody``/``InvalidParameter``."""
    fields = decode_body(body)
    return ChatBody(_chat_request(fields), fields)


def parse_chat_request(body: bytes) -> ChatRequest:
    """Parse and check a ``/chat/completions`` body; raises ``InvalidBody``/``InvalidParameter``."""
    return _chat_request(decode_body(body))


def _chat_request(fields: dict[str, Any]) -> ChatRequest:
    wire = _validate(fields)
    check_bounds(wire)
    check_extras(wire.model_extra or {})
    _log_unknown(wire)
    messages = build_messages(wire.messages)
    sampling = build_sampling(wire)
    n = wire.n or 1
    tools = build_tools(wire.tools, n)
    response_format = build_response_format(wire.response_format, messages)
    return ChatRequest(
        model=wire.model,
        messages=messages,
        sampling=sampling,
        n=n,
        stream=bool(wire.stream),
        include_usage=_check_stream_options(wire),
        tools=tools,
        tool_choice=build_tool_choice(wire.tool_choice, tools),
        parallel_tool_calls=bool(wire.parallel_tool_calls),
        response_format=response_format,
        enable_thinking=wire.enable_thinking,
        thinking_budget=_check_thinking_budget(wire.thinking_budget),
        preserve_thinking=bool(wire.preserve_thinking),
        translation_options=_translation(wire.translation_options),
        grammar=check_grammar(wire.grammar, response_format),
        enable_search=bool(wire.enable_search),
    )
