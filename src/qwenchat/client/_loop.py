"""The tool loop: ask, run the calls the model makes, send their results back, repeat.

Each step sends the conversation with the tools' definitions. When the answer has no tool
calls the loop ends. Otherwise every call is shown (``on_call``), confirmed (``confirm``,
optional), run, and answered with a ``role: "tool"`` message carrying its ``tool_call_id``:

* the result as text (a ``str`` as is, anything else as JSON);
* ``Error: ...`` when the arguments are not JSON, the tool is unknown, or it raised;
* ``The user declined to run this tool.`` when ``confirm`` said no.

A forced ``tool_choice`` (``required`` or a named function) applies to the first step only:
kept, it would force a call at every step and the loop could never answer. More than
``max_steps`` requests is a ClientError.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qwenchat.client._client import ChatClient
from qwenchat.client._errors import EXIT_API, ClientError
from qwenchat.client._response import TextCallback
from qwenchat.client._tools import call_tool, tool_from_function

DECLINED = "The user declined to run this tool."
CallCallback = Callable[[str, dict[str, Any]], None]
ConfirmCallback = Callable[[str, dict[str, Any]], bool]


@dataclass
class ToolLoopResult:
    """The final response, the whole conversation (final answer included), requests made."""

    response: dict[str, Any]
    messages: list[dict[str, Any]]
    steps: int
    usage: dict[str, Any] | None = None  # summed over every step's request


def run_tool_loop(client: ChatClient, request: dict[str, Any],
                  tools: Sequence[Callable[..., Any]], *, max_steps: int = 8,
                  stream: bool = False, on_content: TextCallback | None = None,
                  on_reasoning: TextCallback | None = None, on_call: CallCallback | None = None,
                  confirm: ConfirmCallback | None = None) -> ToolLoopResult:
    """Run ``request`` with ``tools`` until the model answers without calling one."""
    definitions = [tool_from_function(fn) for fn in tools]
    by_name = {d["function"]["name"]: fn for d, fn in zip(definitions, tools, strict=True)}
    others = [t for t in request.get("tools") or []
              if (t.get("function") or {}).get("name") not in by_name]
    body = {**request, "tools": [*others, *definitions]}
    messages: list[dict[str, Any]] = list(request.get("messages") or [])
    usage: dict[str, Any] | None = None
    for step in range(1, max_steps + 1):
        response = client.complete({**body, "messages": messages}, stream=stream,
                                   on_content=on_content, on_reasoning=on_reasoning)
        usage = add_usage(usage, response.get("usage"))
        message = response["choices"][0]["message"] if response.get("choices") else {}
        messages.append(history_message(message))
        calls = message.get("tool_calls") or []
        if not calls:
            return ToolLoopResult(response=response, messages=messages, steps=step,
                                  usage=usage)
        for call in calls:
            messages.append({"role": "tool", "tool_call_id": call.get("id") or "",
                             "content": _answer(call, by_name, on_call, confirm)})
        if _is_forced(body.get("tool_choice")):
            body.pop("tool_choice")
    raise ClientError(f"The model was still calling tools after {max_steps} steps; raise the "
                      "step limit or simplify the task.", code="max_steps", exit_code=EXIT_API)


def add_usage(total: dict[str, Any] | None,
              usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """``total`` plus one response's ``usage`` (token counts, reasoning tokens included)."""
    if not usage:
        return total
    if total is None:
        total = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
                 "completion_tokens_details": {"reasoning_tokens": 0}}
    for field in ("prompt_tokens", "completion_tokens", "total_tokens"):
        total[field] += int(usage.get(field) or 0)
    details = usage.get("completion_tokens_details") or {}
    total["completion_tokens_details"]["reasoning_tokens"] += int(
        details.get("reasoning_tokens") or 0)
    return total


def history_message(message: dict[str, Any]) -> dict[str, Any]:
    """An answer's message as it goes back into the conversation: no empty fields."""
    kept: dict[str, Any] = {"role": message.get("role") or "assistant",
                            "content": message.get("content") or ""}
    if message.get("reasoning_content"):
        kept["reasoning_content"] = message["reasoning_content"]
    calls = message.get("tool_calls") or []
    if calls:
        kept["tool_calls"] = [{"id": call.get("id"), "type": call.get("type") or "function",
                               "function": {"name": call["function"]["name"],
                                            "arguments": call["function"]["arguments"]}}
                              for call in calls]
    return kept


def _answer(call: dict[str, Any], by_name: dict[str, Callable[..., Any]],
            on_call: CallCallback | None, confirm: ConfirmCallback | None) -> str:
    function = call.get("function") or {}
    name = function.get("name") or ""
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except json.JSONDecodeError as exc:
        return f"Error: the arguments are not valid JSON ({exc})."
    if not isinstance(arguments, dict):
        return "Error: the arguments must be a JSON object."
    if on_call is not None:
        on_call(name, arguments)
    fn = by_name.get(name)
    if fn is None:
        return f"Error: there is no tool named {name!r}; use one of {sorted(by_name)}."
    if confirm is not None and not confirm(name, arguments):
        return DECLINED
    try:
        result = call_tool(fn, arguments)
    except Exception as exc:  # the tool's failure is the model's to read, not ours to raise
        return f"Error: {type(exc).__name__}: {exc}"
    return result if isinstance(result, str) else json.dumps(result, default=str)


def _is_forced(tool_choice: Any) -> bool:
    return tool_choice == "required" or isinstance(tool_choice, dict)
