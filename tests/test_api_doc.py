"""docs/api.md's model table is the built-in table of the catalog, row for row."""

from __future__ import annotations

import re
from pathlib import Path

from qwenchat.catalog.table import BUILTIN_PROFILES

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_the_model_table_is_the_catalogs() -> None:
    section = DOC.read_text(encoding="utf-8").split("## Model table", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| (.+) \|$", section, re.M)
    expected = [(p.id, f"{p.thinking.value} | {'yes' if p.supports_tools else 'no'} | "
                       f"{'yes' if p.is_translation else 'no'} | {p.context_window} | "
                       f"{p.max_output} | {p.max_thinking_budget or '—'}")
                for p in BUILTIN_PROFILES.values()]
    assert rows == expected
