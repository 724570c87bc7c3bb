"""Which messages a request renders, and with which template switches.

Partial mode (a final assistant message with ``partial: true``) renders the conversation
before it with the generation prompt, then appends the assistant's prefix verbatim, so the
model continues that text; thinking is off there (API.md allows partial only without it).
"""

from __future__ import annotations

from qwenchat.chat.template import ChatTemplate
from qwenchat.core import ChatRequest


def render_prompt(template: ChatTemplate, request: ChatRequest) -> str:
    """The full prompt text the engine should continue for ``request``."""
    if request.is_partial:
        head = template.render(
            request.messages[:-1], tools=request.tools, add_generation_prompt=True,
            enable_thinking=False, keep_reasoning=request.preserve_thinking,
        )
        return head + request.messages[-1].content
    return template.render(
        request.messages, tools=request.tools, add_generation_prompt=True,
        enable_thinking=request.enable_thinking, keep_reasoning=request.preserve_thinking,
    )
