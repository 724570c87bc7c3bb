"""The Qwen3 fixture model for tests that need Qwen's real vocabulary and chat template.

``qwen3_model`` is the tiny random-weight GGUF that ``scripts/qwen3_fixture.py`` builds into
the fixture cache (outside git): built once, then found there. Its text is noise; its
tokenization, special tokens and template are Qwen3's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scripts import qwen3_fixture


@pytest.fixture(scope="session")
def qwen3_model() -> Path:
    """The Qwen3 fixture GGUF (built on first use; needs npm the first time)."""
    return qwen3_fixture.build()
