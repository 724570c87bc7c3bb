"""``tools`` and ``tool_choice`` on the wire -> ``core.ToolSpec`` / ``core.ToolChoice``.

Rules kept here: only OpenAI ``function`` tools; a tool name is non-empty and is not
``search`` (DashScope reserves it); ``n`` must be 1 when tools are given; ``tool_choice`` is
``auto`` (default), ``none``, ``required`` or ``{"type":"function","function":{"name":...}}``
naming one of ``tools``; ``required`` needs tools; ``auto``/``none`` without tools are fine.
"""

from __future__ import annotations

import json
from typing import Any

from qwenchat.core import ToolChoice, ToolSpec
from qwenchat.errors import InvalidParameter
from qwenchat.protocol._wire import WireTool

RESERVED_TOOL_NAMES = frozenset({"search"})
TOOL_CHOICE_SHAPE = (
    'Invalid value for \'tool_choice\': use "auto", "none", "required" or '
    '{"type": "function", "function": {"name": "..."}}.'
)


def build_tools(wires: list[WireTool] | None, n: int) -> tuple[ToolSpec, ...]:
    """Convert ``tools``; ``n`` is the request's (already range-checked) choice count."""
    if not wires:
        return ()
    specs: list[ToolSpec] = []
    for i, wire in enumerate(wires):
        if wire.type != "function":
            raise InvalidParameter(
                f"Invalid value for 'tools[{i}].type': only 'function' tools are supported, "
                f"got {json.dumps(wire.type)}.",
                param=f"tools[{i}].type",
            )
        name = wire.function.name
        if not name:
            raise InvalidParameter(
                f"Invalid value for 'tools[{i}].function.name': it must not be empty.",
                param=f"tools[{i}].function.name",
            )
        if name in RESERVED_TOOL_NAMES:
            raise InvalidParameter(
                f"The tool name cannot be '{name}'.", param=f"tools[{i}].function.name"
            )
        specs.append(
            ToolSpec(
                name=name,
                description=wire.function.description,
                parameters=dict(wire.function.parameters or {}),
            )
        )
    if n > 1:
        raise InvalidParameter("n must be 1 when tools are given.", param="n")
    return tuple(specs)


def build_tool_choice(value: Any, tools: tuple[ToolSpec, ...]) -> ToolChoice:
    """Convert ``tool_choice`` against the request's ``tools``."""
    if value is None or value == "auto":
        return ToolChoice()
    if value == "none":
        return ToolChoice(mode="none")
    if value == "required":
        if not tools:
            raise InvalidParameter(
                "Invalid value for 'tool_choice': \"required\" needs 'tools'.",
                param="tool_choice",
            )
        return ToolChoice(mode="required")
    name = _forced_name(value)
    if name not in {tool.name for tool in tools}:
        raise InvalidParameter(
            f"Invalid value for 'tool_choice': no tool named {json.dumps(name)} in 'tools'.",
            param="tool_choice",
        )
    return ToolChoice(mode="function", name=name)


def _forced_name(value: Any) -> str:
    if isinstance(value, dict) and value.get("type") == "function":
        function = value.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            name: str = function["name"]
            return name
    raise InvalidParameter(TOOL_CHOICE_SHAPE, param="tool_choice")
