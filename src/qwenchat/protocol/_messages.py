"""``messages`` on the wire -> ``core.Message`` tuple, keeping docs/api.md's message rules.

Rules kept here (all model-independent):
- roles are system, user, assistant, tool; content is a string or a list of
  ``{"type": "text", "text": ...}`` parts (joined with newlines); other parts are rejected;
  assistant content may be null (read as "").
- a system message, if any, is first; at least one user message is present.
- the last message is user or tool, or an assistant message with ``partial: true``
  (``partial`` on any earlier message is ignored).
- assistant ``tool_calls[].function.arguments`` is JSON text.
- tool messages follow, as one block, an assistant message with ``tool_calls``; each answers
  one of its calls (a missing ``tool_call_id`` takes the next unanswered call, in order) and
  every call is answered before the conversation goes on.
"""

from __future__ import annotations

import json
from typing import Any

from qwenchat.core import Message, Role, ToolCall
from qwenchat.errors import InvalidParameter
from qwenchat.protocol._wire import WireMessage, WireToolCall

ROLES = ", ".join(f"'{role.value}'" for role in Role)
TOOL_WITHOUT_CALLS = (
    'messages with role "tool" must be a response to a preceeding message with "tool_calls".'
)


def _join_parts(parts: list[Any], where: str) -> str:
    texts: list[str] = []
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            raise InvalidParameter(
                f"Invalid type for '{where}[{j}]': expected an object.", param=f"{where}[{j}]"
            )
        kind = part.get("type")
        if kind != "text":
            raise InvalidParameter(
                f"Invalid value for '{where}[{j}].type': only \"text\" content parts are "
                f"supported by these text models, got {json.dumps(kind)}.",
                param=f"{where}[{j}].type",
            )
        text = part.get("text")
        if not isinstance(text, str):
            raise InvalidParameter(
                f"Invalid type for '{where}[{j}].text': expected a string.",
                param=f"{where}[{j}].text",
            )
        texts.append(text)
    return "\n".join(texts)


def _content(wire: WireMessage, index: int) -> str:
    where = f"messages[{index}].content"
    if isinstance(wire.content, str):
        return wire.content
    if isinstance(wire.content, list):
        return _join_parts(wire.content, where)
    if wire.content is None and wire.role == Role.ASSISTANT.value:
        return ""
    if wire.content is None:
        raise InvalidParameter(f"Missing required parameter: '{where}'.", param=where)
    raise InvalidParameter(
        f"Invalid type for '{where}': expected a string or a list of text parts.", param=where
    )


def _tool_call(wire: WireToolCall, index: int, j: int) -> ToolCall:
    where = f"messages[{index}].tool_calls[{j}]"
    if wire.type not in (None, "function"):
        raise InvalidParameter(
            f"Invalid value for '{where}.type': only 'function' is supported.",
            param=f"{where}.type",
        )
    try:
        json.loads(wire.function.arguments)
    except ValueError as exc:
        raise InvalidParameter(
            f"The '{where}.function.arguments' parameter must be in JSON format.",
            param=f"{where}.function.arguments",
        ) from exc
    call_id = wire.id or f"call_{index}_{j}"
    return ToolCall(id=call_id, name=wire.function.name, arguments=wire.function.arguments)


def _message(wire: WireMessage, index: int, is_last: bool) -> Message:
    try:
        role = Role(wire.role)
    except ValueError as exc:
        raise InvalidParameter(
            f"Invalid value for 'messages[{index}].role': {json.dumps(wire.role)} is not one "
            f"of {ROLES}.",
            param=f"messages[{index}].role",
        ) from exc
    calls = wire.tool_calls if role is Role.ASSISTANT else None
    return Message(
        role=role,
        content=_content(wire, index),
        reasoning_content=wire.reasoning_content if role is Role.ASSISTANT else None,
        tool_calls=tuple(_tool_call(c, index, j) for j, c in enumerate(calls or ())),
        tool_call_id=wire.tool_call_id if role is Role.TOOL else None,
        name=wire.name,
        partial=bool(wire.partial) and is_last and role is Role.ASSISTANT,
    )


def _answer_tools(messages: list[Message]) -> list[Message]:
    """Check the tool-message blocks; fill in missing ``tool_call_id``s."""
    out: list[Message] = []
    pending: list[str] = []
    for i, msg in enumerate(messages):
        if msg.role is not Role.TOOL:
            _require_answered(pending)
            pending = [c.id for c in msg.tool_calls]
            out.append(msg)
            continue
        if not out or not (out[-1].tool_calls or out[-1].role is Role.TOOL):
            raise InvalidParameter(TOOL_WITHOUT_CALLS, param=f"messages[{i}].role")
        call_id = msg.tool_call_id or (pending[0] if pending else None)
        if call_id is None or call_id not in pending:
            raise InvalidParameter(
                f"Invalid value for 'messages[{i}].tool_call_id': {json.dumps(call_id)} does "
                "not match an unanswered tool call of the preceding assistant message.",
                param=f"messages[{i}].tool_call_id",
            )
        pending.remove(call_id)
        out.append(
            Message(role=Role.TOOL, content=msg.content, tool_call_id=call_id, name=msg.name)
        )
    _require_answered(pending)
    return out


def _require_answered(pending: list[str]) -> None:
    if pending:
        raise InvalidParameter(
            'An assistant message with "tool_calls" must be followed by tool messages '
            'responding to each "tool_call_id". The following tool_call_ids did not have '
            f"response messages: {', '.join(pending)}",
            param="messages",
        )


def _check_order(messages: list[Message]) -> None:
    for i, msg in enumerate(messages):
        if msg.role is Role.SYSTEM and i > 0:
            raise InvalidParameter(
                "The system message must be the first message.", param=f"messages[{i}].role"
            )
    last = messages[-1]
    if last.role not in (Role.USER, Role.TOOL) and not last.partial:
        raise InvalidParameter(
            "The last message must be a user or tool message, or an assistant message with "
            '"partial": true.',
            param=f"messages[{len(messages) - 1}].role",
        )
    if not any(msg.role is Role.USER for msg in messages):
        raise InvalidParameter(
            "The input messages do not contain elements with the role of user",
            param="messages",
        )


def build_messages(wires: list[WireMessage]) -> tuple[Message, ...]:
    """Convert and check ``messages``; raises ``InvalidParameter`` on the first fault."""
    if not wires:
        raise InvalidParameter(
            "Invalid value for 'messages': it must be a non-empty list.", param="messages"
        )
    last = len(wires) - 1
    messages = [_message(w, i, i == last) for i, w in enumerate(wires)]
    _check_order(messages)
    return tuple(_answer_tools(messages))
