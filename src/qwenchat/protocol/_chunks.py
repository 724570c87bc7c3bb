"""``ChunkEncoder``: ChatEvents -> ``chat.completion.chunk`` dicts for SSE frames.

Rules kept (docs/api.md "Streaming"): every chunk has the same ``id`` and ``created``, ``object``
``chat.completion.chunk``, the requested ``model``, ``system_fingerprint: null`` and
``usage: null``; each chunk carries one choice, whose ``index`` is the event's choice. The
first chunk of each choice is ``delta: {"role": "assistant", "content": ""}``. The first delta
of a tool call carries ``index``, ``id``, ``type: "function"``, ``function.name`` and
``arguments: ""`` (its argument text, if any, follows in a second chunk); later deltas carry
the ``index`` and an argument fragment (empty fragments are dropped). The finish chunk is
``delta: {"content": ""}`` with the ``finish_reason``. ``Usage`` becomes one chunk with
``"choices": []`` and the usage object only when ``include_usage`` was asked, else nothing.
Framing (``data: ...``, ``[DONE]``) is the api layer's job.
"""

from __future__ import annotations

from typing import Any

from qwenchat.core import ChatEvent, ContentDelta, Finish, ReasoningDelta, ToolCallDelta, Usage
from qwenchat.protocol._responses import logprobs_dict, usage_dict


class ChunkEncoder:
    """Turns one request's ChatEvents into stream chunks; keeps no state between calls."""

    def __init__(
        self, *, completion_id: str, created: int, model: str, n: int, include_usage: bool
    ) -> None:
        self._id = completion_id
        self._created = created
        self._model = model
        self._n = n
        self._include_usage = include_usage

    def _chunk(self, choices: list[dict[str, Any]], usage: Any = None) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": None,
            "choices": choices,
            "usage": usage,
        }

    def _delta(
        self,
        index: int,
        delta: dict[str, Any],
        *,
        finish_reason: str | None = None,
        logprobs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        choice = {
            "index": index,
            "delta": delta,
            "finish_reason": finish_reason,
            "logprobs": logprobs,
        }
        return self._chunk([choice])

    def first_chunks(self) -> list[dict[str, Any]]:
        """One opening chunk per choice: ``delta: {"role": "assistant", "content": ""}``."""
        return [self._delta(i, {"role": "assistant", "content": ""}) for i in range(self._n)]

    def encode(self, event: ChatEvent) -> list[dict[str, Any]]:
        """The chunks for one event (possibly none)."""
        if isinstance(event, ReasoningDelta):
            return [self._delta(event.choice, {"reasoning_content": event.text})]
        if isinstance(event, ContentDelta):
            logprobs = logprobs_dict(event.logprobs) if event.logprobs else None
            return [self._delta(event.choice, {"content": event.text}, logprobs=logprobs)]
        if isinstance(event, ToolCallDelta):
            return self._tool_call(event)
        if isinstance(event, Finish):
            return [self._delta(event.choice, {"content": ""}, finish_reason=event.reason.value)]
        if isinstance(event, Usage) and self._include_usage:
            return [self._chunk([], usage_dict(event))]
        return []

    def _tool_call(self, event: ToolCallDelta) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = []
        if event.id is not None or event.name is not None:
            start = {
                "index": event.index,
                "id": event.id or "",
                "type": "function",
                "function": {"name": event.name or "", "arguments": ""},
            }
            chunks.append(self._delta(event.choice, {"tool_calls": [start]}))
        if event.arguments:
            fragment = {"index": event.index, "function": {"arguments": event.arguments}}
            chunks.append(self._delta(event.choice, {"tool_calls": [fragment]}))
        return chunks
