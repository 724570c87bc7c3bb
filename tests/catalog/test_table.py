"""The built-in DashScope model table (docs/api.md "Model table")."""

from __future__ import annotations

import pytest

from qwenchat.catalog import BUILTIN_PROFILES
from qwenchat.core import ThinkingMode

SEED_IDS = [
    "qwen3.6-plus",
    "qwen3.5-plus",
    "qwen3.5-flash",
    "qwen-turbo",
    "qwen3-max",
    "qwen3-coder-next",
    "qwen3-coder-plus",
    "qwen3-coder-flash",
    "qwq-plus",
    "qwen-long",
    "qwen-plus",
    "qwen-mt-plus",
    "qwen-mt-flash",
    "qwen-mt-lite",
    "qwen-plus-character-ja",
]


def test_every_seed_id_is_served_in_the_seed_order() -> None:
    assert list(BUILTIN_PROFILES) == SEED_IDS
    assert all(profile.id == model_id for model_id, profile in BUILTIN_PROFILES.items())


@pytest.mark.parametrize(
    ("model_id", "mode"),
    [
        ("qwen3.6-plus", ThinkingMode.HYBRID_ON),
        ("qwen3.5-plus", ThinkingMode.HYBRID_ON),
        ("qwen3.5-flash", ThinkingMode.HYBRID_ON),
        ("qwen3-max", ThinkingMode.HYBRID_OFF),
        ("qwen-plus", ThinkingMode.HYBRID_OFF),
        ("qwen-turbo", ThinkingMode.HYBRID_OFF),
        ("qwq-plus", ThinkingMode.ALWAYS),
        ("qwen3-coder-plus", ThinkingMode.OFF),
        ("qwen-mt-plus", ThinkingMode.OFF),
        ("qwen-long", ThinkingMode.OFF),
        ("qwen-plus-character-ja", ThinkingMode.OFF),
    ],
)
def test_thinking_defaults_follow_the_seed_table(model_id: str, mode: ThinkingMode) -> None:
    assert BUILTIN_PROFILES[model_id].thinking is mode


def test_translation_models_are_exactly_the_qwen_mt_ids() -> None:
    translation = [p.id for p in BUILTIN_PROFILES.values() if p.is_translation]

    assert translation == ["qwen-mt-plus", "qwen-mt-flash", "qwen-mt-lite"]
    assert not any(BUILTIN_PROFILES[model_id].supports_tools for model_id in translation)


def test_the_tools_and_agents_models_take_tools() -> None:
    assert all(
        BUILTIN_PROFILES[model_id].supports_tools
        for model_id in ("qwen3.6-plus", "qwen3.5-plus", "qwen-plus")
    )


@pytest.mark.parametrize("model_id", SEED_IDS)
def test_limits_are_consistent(model_id: str) -> None:
    profile = BUILTIN_PROFILES[model_id]

    assert 0 < profile.max_output < profile.context_window
    if profile.thinking.can_think:
        assert 0 < profile.max_thinking_budget < profile.context_window
    else:
        assert profile.max_thinking_budget == 0


def test_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError):
        BUILTIN_PROFILES["mine"] = BUILTIN_PROFILES["qwen-plus"]  # type: ignore[index]
