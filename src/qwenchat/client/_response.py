"""One shape for every answer: stream chunks reassembled, reasoning normalised.

:class:`StreamAssembler` takes ``chat.completion.chunk`` dicts one at a time (choices by
``index``; tool calls by their ``index``, argument fragments concatenated; usage from the
``include_usage`` chunk) and builds the ``chat.completion`` dict a non-streamed request would
have returned; a choice whose stream ended without a finish chunk keeps ``finish_reason``
None. :func:`normalise` then gives every response a top-level ``reasoning`` (choice 0's
``reasoning_content``, or ``reasoning`` as some servers name it, else None) and keeps the
reasoning in the message as ``reasoning_content``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openai.types.chat import ChatCompletion

TextCallback = Callable[[str], None]


def reasoning_of(message: dict[str, Any]) -> str | None:
    """The message's reasoning under either name, or None."""
    value = message.get("reasoning_content")
    if value is None:
        value = message.get("reasoning")
    return value if isinstance(value, str) else None


def normalise(response: dict[str, Any]) -> dict[str, Any]:
    """``response`` with ``reasoning`` on top and ``reasoning_content`` in each message."""
    for choice in response.get("choices") or []:
        message = choice.get("message") or {}
        reasoning = reasoning_of(message)
        if reasoning is not None and message.get("reasoning_content") is None:
            message["reasoning_content"] = reasoning
    choices = response.get("choices") or []
    response["reasoning"] = reasoning_of(choices[0].get("message") or {}) if choices else None
    return response


def dump_completion(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` through the SDK's ChatCompletion model, keeping only the fields the server
    sent — as the non-stream path does — so saved responses look like the wire, not like
    the SDK's defaults (``refusal: null``, ``audio: null``, ...).

    Built without validation, as the SDK builds its own responses: an odd server field
    should not lose the answer.
    """
    return ChatCompletion.model_construct(**data).model_dump(exclude_unset=True)


class StreamAssembler:
    """Reassembles a streamed chat completion; reports choice 0's text deltas as they come."""

    def __init__(self, *, on_content: TextCallback | None = None,
                 on_reasoning: TextCallback | None = None) -> None:
        self._on_content = on_content
        self._on_reasoning = on_reasoning
        self._head: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}
        self._usage: dict[str, Any] | None = None
        self.has_output = False

    def add(self, chunk: dict[str, Any]) -> None:
        """Fold one chunk in."""
        for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if chunk.get(key) is not None:
                self._head.setdefault(key, chunk[key])
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            self._add_choice(choice)

    def result(self) -> dict[str, Any]:
        """The reassembled ``chat.completion`` dict (not yet normalised)."""
        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            message = state["message"]
            calls = [state["calls"][i] for i in sorted(state["calls"])]
            if calls:
                message["tool_calls"] = calls
            choices.append({"index": index, "message": message,
                            "finish_reason": state["finish_reason"],
                            "logprobs": state["logprobs"]})
        return {"id": self._head.get("id", ""), "object": "chat.completion",
                "created": self._head.get("created", 0), "model": self._head.get("model", ""),
                "system_fingerprint": self._head.get("system_fingerprint"),
                "choices": choices, "usage": self._usage}

    def _add_choice(self, choice: dict[str, Any]) -> None:
        index = int(choice.get("index") or 0)
        state = self._choices.setdefault(index, {
            "message": {"role": "assistant", "content": ""}, "calls": {},
            "finish_reason": None, "logprobs": None})
        delta = choice.get("delta") or {}
        message = state["message"]
        if delta.get("role"):
            message["role"] = delta["role"]
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            message["reasoning_content"] = (message.get("reasoning_content") or "") + reasoning
            self._emit(index, reasoning, self._on_reasoning)
        if delta.get("content"):
            message["content"] += delta["content"]
            self._emit(index, delta["content"], self._on_content)
        for call in delta.get("tool_calls") or []:
            self._add_call(state["calls"], call)
        if choice.get("finish_reason"):
            state["finish_reason"] = choice["finish_reason"]
        self._add_logprobs(state, choice.get("logprobs"))

    def _emit(self, index: int, text: str, callback: TextCallback | None) -> None:
        self.has_output = True
        if index == 0 and callback is not None:
            callback(text)

    def _add_call(self, calls: dict[int, dict[str, Any]], delta: dict[str, Any]) -> None:
        self.has_output = True
        index = int(delta.get("index") or 0)
        call = calls.setdefault(index, {"id": "", "type": "function",
                                        "function": {"name": "", "arguments": ""}})
        if delta.get("id"):
            call["id"] = delta["id"]
        if delta.get("type"):
            call["type"] = delta["type"]
        function = delta.get("function") or {}
        if function.get("name"):
            call["function"]["name"] += function["name"]
        if function.get("arguments"):
            call["function"]["arguments"] += function["arguments"]

    @staticmethod
    def _add_logprobs(state: dict[str, Any], logprobs: dict[str, Any] | None) -> None:
        if not logprobs:
            return
        merged = state["logprobs"] or {"content": None}
        for key in ("content", "refusal"):
            if logprobs.get(key):
                merged[key] = (merged.get(key) or []) + logprobs[key]
        state["logprobs"] = merged
