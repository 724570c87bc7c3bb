"""The built-in table of DashScope model ids that qwenchat answers to (docs/api.md "Model table").

Each id is a :class:`~qwenchat.core.ModelProfile`: how it treats thinking, whether it takes
tools, whether it is a translation model, and its context / output / thinking-budget limits
as DashScope (Alibaba Cloud Model Studio) documents them, so that validation (``max_tokens``,
``thinking_budget``, ``enable_thinking``) answers as DashScope would. The engine that serves an
id locally may have a smaller context; the service clamps to the smaller of the two.

Sources (searched 2026): the Model Studio model list and deep-thinking pages
(help.aliyun.com/zh/model-studio/models, .../deep-thinking, .../machine-translation), as
mirrored by models.dev (models/alibaba/*.toml, providers/alibaba/models/*.toml). A number
marked "estimate" was not found in those sources and is our best reading; change it here
when DashScope publishes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from qwenchat.core import ModelProfile, ThinkingMode

_OFF = ThinkingMode.OFF
_HYBRID_ON = ThinkingMode.HYBRID_ON
_HYBRID_OFF = ThinkingMode.HYBRID_OFF
_ALWAYS = ThinkingMode.ALWAYS


def _profile(
    model_id: str,
    thinking: ThinkingMode,
    *,
    tools: bool,
    context: int,
    output: int,
    budget: int = 0,
    translation: bool = False,
) -> ModelProfile:
    return ModelProfile(
        id=model_id,
        thinking=thinking,
        supports_tools=tools,
        is_translation=translation,
        context_window=context,
        max_output=output,
        max_thinking_budget=budget,
    )


_PROFILES: tuple[ModelProfile, ...] = (
    # General, default. Qwen3.6-Plus / Qwen3.5-Plus: 1M context, 65,536 output (Model Studio
    # model list). Hybrid thinking, on by default (seed table; deep-thinking page: "Qwen3.5
    # (enabled by default)"). Thinking budget 81,920: Qwen3.5-Plus max chain-of-thought;
    # for 3.6-Plus an estimate (same family).
    _profile(
        "qwen3.6-plus", _HYBRID_ON, tools=True, context=1_000_000, output=65_536, budget=81_920
    ),
    _profile(
        "qwen3.5-plus", _HYBRID_ON, tools=True, context=1_000_000, output=65_536, budget=81_920
    ),
    # Low latency. Qwen3.5-Flash: 1M / 65,536, thinks by default; budget 81,920 is an estimate.
    _profile(
        "qwen3.5-flash", _HYBRID_ON, tools=True, context=1_000_000, output=65_536, budget=81_920
    ),
    # qwen-turbo (Qwen3 based): hybrid, off by default. 1M context (non-thinking), 16,384
    # output, 38,912 max chain-of-thought: from the Model Studio list as we read it; the
    # output and budget figures are estimates (models.dev lists 131,072 / 8,192 for an older
    # snapshot).
    _profile(
        "qwen-turbo", _HYBRID_OFF, tools=True, context=1_000_000, output=16_384, budget=38_912
    ),
    # Strongest. qwen3-max: 262,144 context, 65,536 output (model list: 256K / 64K).
    # qwen3-max-2026-01-23 (what the alias points at) adds thinking, off by default; budget
    # 81,920 is an estimate (the Qwen3 commercial maximum).
    _profile("qwen3-max", _HYBRID_OFF, tools=True, context=262_144, output=65_536, budget=81_920),
    # Code. No thinking mode on DashScope; tool calling is their purpose.
    # qwen3-coder-next: 262,144 / 65,536; coder-plus and coder-flash: 1M / 65,536.
    _profile("qwen3-coder-next", _OFF, tools=True, context=262_144, output=65_536),
    _profile("qwen3-coder-plus", _OFF, tools=True, context=1_000_000, output=65_536),
    _profile("qwen3-coder-flash", _OFF, tools=True, context=1_000_000, output=65_536),
    # Deep reasoning. QwQ-Plus always thinks: 131,072 context, 8,192 output, 32,768 max
    # chain-of-thought (Model Studio list for qwq-plus; the output figure is an estimate).
    _profile("qwq-plus", _ALWAYS, tools=True, context=131_072, output=8_192, budget=32_768),
    # Long documents. Qwen-Long: 10,000,000-token context (long-context-qwen-long page);
    # 8,192 output and no function calling are estimates.
    _profile("qwen-long", _OFF, tools=False, context=10_000_000, output=8_192),
    # Tools / agents. qwen-plus: hybrid, off by default; 1M context, 32,768 output, thinking
    # budget up to 81,920 (models.dev reasoning_options for alibaba/qwen-plus).
    _profile("qwen-plus", _HYBRID_OFF, tools=True, context=1_000_000, output=32_768, budget=81_920),
    # Translation (translation_options; single user message, no tools). Qwen-MT (Qwen3
    # based): 16,384 context, 8,192 output (machine-translation page, models.dev for mt-flash
    # and mt-lite; mt-plus taken to match, an estimate).
    _profile("qwen-mt-plus", _OFF, tools=False, context=16_384, output=8_192, translation=True),
    _profile("qwen-mt-flash", _OFF, tools=False, context=16_384, output=8_192, translation=True),
    _profile("qwen-mt-lite", _OFF, tools=False, context=16_384, output=8_192, translation=True),
    # Role-play. qwen-plus-character-ja: 8,192 context, 512 output, tools (models.dev).
    _profile("qwen-plus-character-ja", _OFF, tools=True, context=8_192, output=512),
)

BUILTIN_PROFILES: Mapping[str, ModelProfile] = MappingProxyType(
    {profile.id: profile for profile in _PROFILES}
)
"""Every built-in model id, in the order of docs/api.md's model table."""
