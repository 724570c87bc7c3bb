"""``CompletionAssembler``: ChatEvents -> one non-stream ``chat.completion`` object.

Rules kept (docs/api.md "Response (non-stream)"): ``system_fingerprint`` is null; choices are
sorted by index; ``message.content`` is a string, ``""`` (never null) when the choice only
called tools; ``reasoning_content`` appears only when there was reasoning; ``tool_calls``
appears only when there were calls, each ``{"index","id","type":"function","function":
{"name","arguments"}}`` with the argument fragments concatenated; ``logprobs`` is null unless
content deltas carried logprobs. A choice that never got a ``Finish`` reads as ``tool_calls``
when it called tools, else ``stop``.
"""

from __future__ import annotations

from typing import Any

from qwenchat.core import (
    ChatEvent,
    ContentDelta,
    Finish,
    FinishReason,
    ReasoningDelta,
    TokenLogprob,
    ToolCallDelta,
    Usage,
)
from qwenchat.protocol._responses import logprobs_dict, usage_dict


class _ToolCallParts:
    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments: list[str] = []


class _ChoiceParts:
    """What one choice has said so far."""

    __slots__ = ("content", "finish", "logprobs", "reasoning", "tool_calls")

    def __init__(self) -> None:
        self.reasoning: list[str] = []
        self.content: list[str] = []
        self.logprobs: list[TokenLogprob] = []
        self.tool_calls: dict[int, _ToolCallParts] = {}
        self.finish: FinishReason | None = None

    def add_tool_call(self, event: ToolCallDelta) -> None:
        call = self.tool_calls.setdefault(event.index, _ToolCallParts())
        if event.id is not None:
            call.id = event.id
        if event.name is not None:
            call.name = event.name
        call.arguments.append(event.arguments)

    def to_dict(self, index: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.content)}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "index": i,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": "".join(call.arguments)},
                }
                for i, call in sorted(self.tool_calls.items())
            ]
        default = FinishReason.TOOL_CALLS if self.tool_calls else FinishReason.STOP
        return {
            "index": index,
            "finish_reason": (self.finish or default).value,
            "logprobs": logprobs_dict(self.logprobs) if self.logprobs else None,
            "message": message,
        }


class CompletionAssembler:
    """Collects a request's ChatEvents; ``result()`` is the ``chat.completion`` dict."""

    def __init__(self, *, completion_id: str, created: int, model: str, n: int) -> None:
        self._id = completion_id
        self._created = created
        self._model = model
        self._choices = {index: _ChoiceParts() for index in range(n)}
        self._usage: Usage | None = None

    def _choice(self, index: int) -> _ChoiceParts:
        return self._choices.setdefault(index, _ChoiceParts())

    def add(self, event: ChatEvent) -> None:
        """Take one event (any choice, any kind)."""
        if isinstance(event, Usage):
            self._usage = event
        elif isinstance(event, ReasoningDelta):
            self._choice(event.choice).reasoning.append(event.text)
        elif isinstance(event, ContentDelta):
            choice = self._choice(event.choice)
            choice.content.append(event.text)
            choice.logprobs.extend(event.logprobs)
        elif isinstance(event, ToolCallDelta):
            self._choice(event.choice).add_tool_call(event)
        elif isinstance(event, Finish):
            self._choice(event.choice).finish = event.reason

    def result(self) -> dict[str, Any]:
        """The assembled ``chat.completion`` object."""
        return {
            "id": self._id,
            "object": "chat.completion",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": None,
            "choices": [parts.to_dict(i) for i, parts in sorted(self._choices.items())],
            "usage": usage_dict(self._usage),
        }
