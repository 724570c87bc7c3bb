"""Every TOML example in docs/upstreams.md and docs/gateway.md is a valid qwenchat config
(and, where it serves no local model, a valid catalog)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qwenchat.catalog import Catalog
from qwenchat.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"```toml\n(.*?)```", re.S)
EXAMPLES = [(path.name, index, text) for path in (DOCS / "upstreams.md", DOCS / "gateway.md")
            for index, text in enumerate(BLOCK.findall(path.read_text(encoding="utf-8")))]


@pytest.mark.parametrize(("doc", "index", "text"), EXAMPLES,
                         ids=[f"{doc}-{index}" for doc, index, _ in EXAMPLES])
def test_the_example_loads(doc: str, index: int, text: str, tmp_path: Path) -> None:
    config = tmp_path / "qwenchat.toml"
    config.write_text(text, encoding="utf-8")
    settings = Settings.load(config, env={})
    if settings.engine.model == "none":  # nothing to fetch: check the model mapping too
        assert Catalog.build(settings, say=print, fetch_starter=False).ids()
