"""ChatEvents: the one vocabulary between backends and the HTTP framing.

A backend yields, per choice, reasoning deltas, then content or tool-call deltas, then one
``Finish``; after every choice has finished, exactly one ``Usage``. The server turns them into
SSE chunks or one aggregated response and never knows which backend produced them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class FinishReason(str, Enum):
    """Why a choice ended."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_CALLS = "tool_calls"


@dataclass(frozen=True, slots=True)
class TopLogprob:
    """One alternative token at a position."""

    token: str
    logprob: float
    bytes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """The chosen token at a position, with its top alternatives."""

    token: str
    logprob: float
    bytes: tuple[int, ...]
    top_logprobs: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of reasoning text for choice ``choice``."""

    choice: int
    text: str


@dataclass(frozen=True, slots=True)
class ContentDelta:
    """A piece of answer text, with the logprobs of the tokens it completes (if asked)."""

    choice: int
    text: str
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A tool call's start (``id`` and ``name`` set) or a fragment of its arguments."""

    choice: int
    index: int
    arguments: str
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """Choice ``choice`` has ended."""

    choice: int
    reason: FinishReason


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of the whole request (all choices)."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


ChatEvent = ReasoningDelta | ContentDelta | ToolCallDelta | Finish | Usage
