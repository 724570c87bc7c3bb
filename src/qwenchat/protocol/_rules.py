"""The model-dependent request rules: a parsed ``ChatRequest`` checked against a ``ModelProfile``.

``check_for_model`` returns a new request with ``enable_thinking`` resolved to a bool and
``sampling.max_tokens`` set (default and cap: ``profile.max_output``); ``max_completion_tokens``
has the same cap and no default. Rules kept here:
- enable_thinking=true on a model that cannot think, or false on an always-thinking model;
- thinking_budget above the model's maximum;
- in thinking mode: n must be 1, tool_choice may not force a call, partial mode is refused;
- tools on a model without tool support;
- translation models take exactly one user message, no system message, and
  translation_options (with target_lang); other models accept translation_options and drop it.
Error messages use DashScope's wording where it is known (see docs/api.md).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from qwenchat.core import ChatRequest, ModelProfile, Role, ThinkingMode
from qwenchat.errors import InvalidParameter

logger = logging.getLogger("qwenchat.protocol")


def _resolve_thinking(request: ChatRequest, profile: ModelProfile) -> bool:
    asked = request.enable_thinking
    if asked is None:
        return profile.thinking.default_enabled
    if asked and not profile.thinking.can_think:
        raise InvalidParameter(
            f"The model {request.model} does not support enable_thinking.",
            param="enable_thinking",
        )
    if not asked and profile.thinking is ThinkingMode.ALWAYS:
        raise InvalidParameter(
            "The value of the enable_thinking parameter is restricted to True.",
            param="enable_thinking",
        )
    return asked


def _check_thinking_mode(request: ChatRequest, profile: ModelProfile) -> None:
    budget = request.thinking_budget
    if budget is not None and profile.thinking.can_think and budget > profile.max_thinking_budget:
        raise InvalidParameter(
            "The thinking_budget parameter must be a positive integer and not greater than "
            f"{profile.max_thinking_budget}",
            param="thinking_budget",
        )
    if request.n > 1:
        raise InvalidParameter("n must be 1 in thinking mode.", param="n")
    if request.tool_choice.mode in ("required", "function"):
        raise InvalidParameter(
            "The tool_choice parameter does not support being set to required or object in "
            "thinking mode",
            param="tool_choice",
        )
    if request.is_partial:
        raise InvalidParameter(
            "Partial mode is not supported in thinking mode; set enable_thinking to false.",
            param="messages",
        )


def _check_translation(request: ChatRequest) -> None:
    roles = [message.role for message in request.messages]
    if roles != [Role.USER]:
        raise InvalidParameter(
            f"The model {request.model} takes exactly one user message (the text to "
            "translate) and no system message.",
            param="messages",
        )
    if request.translation_options is None:
        raise InvalidParameter(
            f"The model {request.model} requires translation_options with target_lang.",
            param="translation_options",
        )


def _within_output_cap(name: str, asked: int | None, profile: ModelProfile) -> int | None:
    if asked is not None and not 1 <= asked <= profile.max_output:
        raise InvalidParameter(
            f"Range of {name} should be [1, {profile.max_output}]", param=name
        )
    return asked


def check_for_model(request: ChatRequest, profile: ModelProfile) -> ChatRequest:
    """Apply ``profile``'s rules; raises ``InvalidParameter``; returns the resolved request."""
    thinking = _resolve_thinking(request, profile)
    if thinking:
        _check_thinking_mode(request, profile)
    if request.tools and not profile.supports_tools:
        raise InvalidParameter(f"The model {request.model} does not support tools.", param="tools")
    sampling = request.sampling
    translation = request.translation_options
    if profile.is_translation:
        _check_translation(request)
    elif translation is not None:
        logger.info("translation_options ignored: %s is not a translation model", request.model)
        translation = None
    return replace(
        request,
        enable_thinking=thinking,
        sampling=replace(
            sampling,
            max_tokens=_within_output_cap("max_tokens", sampling.max_tokens, profile)
            or profile.max_output,
            max_completion_tokens=_within_output_cap(
                "max_completion_tokens", sampling.max_completion_tokens, profile),
        ),
        translation_options=translation,
    )
