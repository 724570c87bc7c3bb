"""Neutral values every layer shares: messages, requests, sampling, model profiles, events.

Everything here is a frozen, slotted dataclass, an Enum or a constant, free of I/O and of
any third-party import, so that every sibling package can depend on it. Qwen's tags (think,
tool call, tools, tool response) and the injected end of reasoning are in
:mod:`qwenchat.core.qwen_format`.
"""

from qwenchat.core.events import (
    ChatEvent,
    ContentDelta,
    Finish,
    FinishReason,
    ReasoningDelta,
    TokenLogprob,
    ToolCallDelta,
    TopLogprob,
    Usage,
)
from qwenchat.core.messages import Message, Role, ToolCall
from qwenchat.core.profile import ModelProfile, ThinkingMode
from qwenchat.core.request import (
    ChatRequest,
    ResponseFormat,
    ToolChoice,
    ToolSpec,
    TranslationOptions,
)
from qwenchat.core.sampling import SamplingParams

__all__ = [
    "ChatEvent",
    "ChatRequest",
    "ContentDelta",
    "Finish",
    "FinishReason",
    "Message",
    "ModelProfile",
    "ReasoningDelta",
    "ResponseFormat",
    "Role",
    "SamplingParams",
    "ThinkingMode",
    "TokenLogprob",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolSpec",
    "TopLogprob",
    "TranslationOptions",
    "Usage",
]
