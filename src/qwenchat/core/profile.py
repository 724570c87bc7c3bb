"""What the service knows about one served model id: its capabilities and limits."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ThinkingMode(str, Enum):
    """How a model id treats reasoning."""

    OFF = "off"  # cannot think: enable_thinking=true is rejected
    HYBRID_OFF = "hybrid-off"  # thinks only when asked (default off)
    HYBRID_ON = "hybrid-on"  # thinks unless told not to (default on)
    ALWAYS = "always"  # always thinks: enable_thinking=false is rejected

    @property
    def default_enabled(self) -> bool:
        return self in (ThinkingMode.HYBRID_ON, ThinkingMode.ALWAYS)

    @property
    def can_think(self) -> bool:
        return self is not ThinkingMode.OFF


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """A DashScope model id as served here."""

    id: str
    thinking: ThinkingMode
    supports_tools: bool
    is_translation: bool
    context_window: int  # tokens, input + output
    max_output: int  # tokens; default and cap of max_tokens
    max_thinking_budget: int  # tokens; cap of thinking_budget
    owned_by: str = "qwenchat"
