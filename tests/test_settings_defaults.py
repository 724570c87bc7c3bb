"""The settings' defaults are defined once, in :mod:`qwenchat.settings`: the engine's own
config takes them from there, and the file shapes shown in the settings module's docstring
and in README.md must show the same values (every ``[engine]`` key, in both)."""

from __future__ import annotations

import re
import sys
import textwrap
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import qwenchat.settings
from qwenchat.engine import EngineConfig
from qwenchat.settings import EngineSettings, GatewaySettings, ServerSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

README = Path(__file__).resolve().parents[1] / "README.md"
SECTIONS: dict[str, type[BaseModel]] = {
    "server": ServerSettings, "engine": EngineSettings, "gateway": GatewaySettings}
# Shown as what it resolves to when unset: the best pulled Qwen model, else the starter.
SHOWN_AS = {("engine", "model"): "starter"}


def docstring_shape() -> dict[str, Any]:
    """The TOML after ``File shape::`` in the settings module's docstring."""
    doc = qwenchat.settings.__doc__ or ""
    return tomllib.loads(textwrap.dedent(doc.split("File shape::\n", 1)[1]))


def readme_shape() -> dict[str, Any]:
    """README's first TOML example: the settings file of ``qwenchat serve``."""
    [first, *_] = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return dict(tomllib.loads(first))


SHAPES = {"settings docstring": docstring_shape, "README.md": readme_shape}


@pytest.mark.parametrize("where", list(SHAPES))
def test_documented_values_are_the_defaults(where: str) -> None:
    shape = SHAPES[where]()
    for section, model in SECTIONS.items():
        defaults = model().model_dump()
        for key, shown in shape[section].items():
            expected = SHOWN_AS.get((section, key), defaults[key])
            assert shown == expected, f"{where}: [{section}] {key} = {shown!r}, not {expected!r}"


@pytest.mark.parametrize("where", list(SHAPES))
def test_every_engine_key_is_documented(where: str) -> None:
    assert set(SHAPES[where]()["engine"]) == set(EngineSettings.model_fields), where


def test_the_engine_config_defaults_are_the_settings() -> None:
    settings = EngineSettings()
    config = {field.name: field.default for field in fields(EngineConfig)}
    assert config["request_timeout"] == (settings.request_timeout or None)
    assert config["prefix_cache"].value == settings.prefix_cache
    for name in ("context_size", "threads", "batch_size", "max_queue", "slots",
                 "host_cache_mb", "flash_attention", "stall_timeout"):
        assert config[name] == getattr(settings, name), name
