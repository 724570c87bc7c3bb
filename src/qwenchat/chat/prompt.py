"""What a request renders to, and how its output must be read: the prompt plan.

Rules kept here, in order:
- translation models: the one user message and ``translation_options`` become a translation
  instruction (:mod:`qwenchat.chat.translation`);
- a request without a system message gets ``default_system`` (when not empty) first: Qwen's
  customary "You are a helpful assistant.", so every model behind a Qwen id answers as one
  instead of, say, the starter template's own "I am SmolLM" persona;
- ``tool_choice: "none"`` renders no tools and reads no calls; otherwise tools go through the
  model's template when it renders tools, else through Qwen3's own tools prompt
  (:mod:`qwenchat.chat.tools_prompt`), so function calling works on every model;
- thinking is read from the output only when the template knows Qwen's ``<think>``
  convention; a template that pre-opens ``<think>`` means the output starts in reasoning;
- partial mode renders the conversation before the final assistant message with the
  generation prompt and thinking off, then appends that message's text verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass

from qwenchat.chat.template import ChatTemplate
from qwenchat.chat.tools_prompt import inject_tools, template_supports_tools
from qwenchat.chat.translation import translation_messages
from qwenchat.core import ChatRequest, Message, Role, ToolSpec
from qwenchat.core.qwen_format import THINK_OPEN


@dataclass(frozen=True, slots=True)
class PromptPlan:
    """The prompt text, and what the output parser must expect."""

    text: str
    thinking: bool
    starts_in_reasoning: bool
    tools: tuple[ToolSpec, ...]


def plan_prompt(template: ChatTemplate, request: ChatRequest,
                default_system: str = "") -> PromptPlan:
    """Render ``request`` with ``template``; see the module docstring for the rules."""
    messages = _messages(request, default_system)
    tools = () if request.tool_choice.mode == "none" else request.tools
    renders_tools = template_supports_tools(template.source)
    if not renders_tools:  # also rewrites tool history, which such templates cannot show
        messages = inject_tools(messages, tools)
    thinking = bool(request.enable_thinking) and not request.is_partial and _knows_thinking(
        template.source)
    render_tools = tools if renders_tools else ()
    if request.is_partial:
        head = template.render(messages[:-1], tools=render_tools, add_generation_prompt=True,
                               enable_thinking=False, keep_reasoning=request.preserve_thinking)
        text = head + messages[-1].content
    else:
        text = template.render(messages, tools=render_tools, add_generation_prompt=True,
                               enable_thinking=request.enable_thinking,
                               keep_reasoning=request.preserve_thinking)
    starts_in_reasoning = thinking and text.rstrip().endswith(THINK_OPEN)
    return PromptPlan(text, thinking, starts_in_reasoning, tuple(tools))


def _messages(request: ChatRequest, default_system: str) -> tuple[Message, ...]:
    messages: tuple[Message, ...] = request.messages
    if request.translation_options is not None:
        return translation_messages(messages[-1].content, request.translation_options)
    if default_system and messages and messages[0].role is not Role.SYSTEM:
        messages = (Message(Role.SYSTEM, default_system), *messages)
    return messages


def _knows_thinking(source: str) -> bool:
    return THINK_OPEN in source or "enable_thinking" in source
