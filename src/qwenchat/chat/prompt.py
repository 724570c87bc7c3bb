"""Which messages a request renders, and with which template switches.

Partial mode (a final assistant message with ``partial: true``) renders the conversation
before it with the generation prompt, then appends the assistant's prefix verbatim, so the
model continues that text; thinking is off there (API.md allows partial only without it).

A request without a system message gets ``default_system`` (when not empty) as its first
message: Qwen's customary "You are a helpful assistant.", so that every model behind a
Qwen id answers as one, instead of, say, the starter template's own "I am SmolLM" persona.
"""

from __future__ import annotations

from qwenchat.chat.template import ChatTemplate
from qwenchat.core import ChatRequest, Message, Role


def render_prompt(template: ChatTemplate, request: ChatRequest, default_system: str = "") -> str:
    """The full prompt text the engine should continue for ``request``."""
    messages = request.messages
    if default_system and messages and messages[0].role is not Role.SYSTEM:
        messages = (Message(Role.SYSTEM, default_system), *messages)
    if request.is_partial:
        head = template.render(
            messages[:-1], tools=request.tools, add_generation_prompt=True,
            enable_thinking=False, keep_reasoning=request.preserve_thinking,
        )
        return head + request.messages[-1].content
    return template.render(
        messages, tools=request.tools, add_generation_prompt=True,
        enable_thinking=request.enable_thinking, keep_reasoning=request.preserve_thinking,
    )
