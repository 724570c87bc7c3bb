"""The body of one ``<tool_call>`` block -> a function name and typed arguments JSON.

Private to :mod:`qwenchat.chat.parser`. Two body forms are understood:

- Hermes (Qwen3): ``{"name": "f", "arguments": {...}}`` — ``arguments`` may also be spelled
  ``parameters``, may be missing (``{}``) or be a JSON string holding an object;
- Qwen3-Coder XML: ``<function=f><parameter=p>\\nvalue\\n</parameter>...</function>`` — one
  newline is trimmed on each side of a value; ``</function>`` may be missing.

Anything else is malformed and yields ``None``; nothing here raises. Argument values are typed
against the tool's JSON schema (``parameters.properties[name].type``, a string or a list, or
the types listed in ``anyOf``/``oneOf``): XML values are text and are converted (integer ->
int, number -> int or float, boolean, null, object/array -> parsed JSON); in the Hermes form a
string value is converted the same way when its schema does not allow a string. A value that
does not convert cleanly stays as written. Only top-level arguments are typed. A function name
that no tool has is accepted; its arguments stay as written. Key order is kept.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qwenchat.core import ToolSpec

_XML_CALL = re.compile(r"\s*<function=([^>\n]+)>(.*?)(?:</function>)?\s*", re.DOTALL)
_XML_PARAMETER = re.compile(r"<parameter=([^>\n]+)>(.*?)</parameter>", re.DOTALL)
_INTEGER = re.compile(r"-?\d+")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_UNCONVERTED = object()  # a conversion that did not apply


@dataclass(frozen=True, slots=True)
class ParsedCall:
    """A well-formed call: the function's name and its arguments as JSON text."""

    name: str
    arguments: str


def parse_tool_call(body: str, tools: Mapping[str, ToolSpec]) -> ParsedCall | None:
    """Parse the text between ``<tool_call>`` and ``</tool_call>``; ``None`` if malformed."""
    stripped = body.strip()
    if stripped.startswith("{"):
        parsed = _parse_hermes(stripped)
    elif stripped.startswith("<function="):
        parsed = _parse_xml(stripped)
    else:
        return None
    if parsed is None:
        return None
    name, arguments, is_text = parsed
    tool = tools.get(name)
    if tool is not None:
        properties = tool.parameters.get("properties")
        if isinstance(properties, dict):
            arguments = _typed(arguments, properties, is_text=is_text)
    return ParsedCall(name, json.dumps(arguments, ensure_ascii=False))


def _parse_hermes(body: str) -> tuple[str, dict[str, Any], bool] | None:
    try:
        call = json.loads(body)
    except ValueError:
        return None
    if not isinstance(call, dict):
        return None
    name = call.get("name")
    arguments = call.get("arguments", call.get("parameters"))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if arguments is None:
        arguments = {}
    if not isinstance(name, str) or not name.strip() or not isinstance(arguments, dict):
        return None
    return name.strip(), arguments, False


def _parse_xml(body: str) -> tuple[str, dict[str, Any], bool] | None:
    call = _XML_CALL.fullmatch(body)
    if call is None:
        return None
    name, inner = call.group(1).strip(), call.group(2)
    arguments: dict[str, Any] = {}
    position = 0
    for parameter in _XML_PARAMETER.finditer(inner):
        if inner[position : parameter.start()].strip():
            return None  # text between parameters: not the Coder form
        value = parameter.group(2)
        value = value[1:] if value.startswith("\n") else value
        value = value[:-1] if value.endswith("\n") else value
        arguments[parameter.group(1).strip()] = value
        position = parameter.end()
    if inner[position:].strip() or not name:
        return None
    return name, arguments, True


def _typed(arguments: dict[str, Any], properties: dict[str, Any], *,
           is_text: bool) -> dict[str, Any]:
    """Arguments with each value converted to its schema type where that applies."""
    typed: dict[str, Any] = {}
    for key, value in arguments.items():
        schema = properties.get(key)
        types = _schema_types(schema) if isinstance(schema, dict) else []
        if isinstance(value, str) and types and (is_text or "string" not in types):
            typed[key] = _from_text(value, types)
        elif isinstance(value, float) and "integer" in types and value.is_integer():
            typed[key] = int(value)
        else:
            typed[key] = value
    return typed


def _schema_types(schema: dict[str, Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [t for t in declared if isinstance(t, str)]
    types: list[str] = []
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key) or ():
            if isinstance(option, dict):
                types += _schema_types(option)
    return types


def _from_text(text: str, types: list[str]) -> Any:
    """The first of ``types`` that ``text`` converts to cleanly, else ``text`` itself."""
    for type_name in types:
        if type_name == "string":
            return text
        value = _convert(text.strip(), type_name)
        if value is not _UNCONVERTED:
            return value
    return text


def _convert(text: str, type_name: str) -> Any:
    if type_name == "integer":
        if _INTEGER.fullmatch(text):
            return int(text)
        number = _number(text)
        return int(number) if isinstance(number, float) and number.is_integer() else _UNCONVERTED
    if type_name == "number":
        return _number(text)
    if type_name == "boolean":
        lowered = text.lower()
        return lowered == "true" if lowered in ("true", "false") else _UNCONVERTED
    if type_name == "null":
        return None if text == "null" else _UNCONVERTED
    if type_name in ("object", "array"):
        try:
            value = json.loads(text)
        except ValueError:
            return _UNCONVERTED
        expected = dict if type_name == "object" else list
        return value if isinstance(value, expected) else _UNCONVERTED
    return _UNCONVERTED


def _number(text: str) -> Any:
    if not _JSON_NUMBER.fullmatch(text):
        return _UNCONVERTED
    value = json.loads(text)
    return value if isinstance(value, int) or math.isfinite(value) else _UNCONVERTED
