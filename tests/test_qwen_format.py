"""Qwen's tags are spelled in one module: every other module of the package imports them
from :mod:`qwenchat.core.qwen_format` (docstrings may name them)."""

from __future__ import annotations

import ast
from pathlib import Path

import qwenchat
from qwenchat.core import qwen_format

PACKAGE = Path(qwenchat.__file__).parent
TAGS = (qwen_format.THINK_OPEN, qwen_format.THINK_CLOSE, qwen_format.CALL_OPEN,
        qwen_format.CALL_CLOSE, qwen_format.TOOLS_OPEN, qwen_format.TOOLS_CLOSE,
        qwen_format.TOOL_RESPONSE_OPEN, qwen_format.TOOL_RESPONSE_CLOSE)


def _docstrings(tree: ast.Module) -> set[int]:
    owners = [tree, *(node for node in ast.walk(tree)
                      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                           ast.ClassDef)))]
    return {id(owner.body[0].value) for owner in owners
            if owner.body and isinstance(owner.body[0], ast.Expr)
            and isinstance(owner.body[0].value, ast.Constant)}


def _spelled_tags(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstrings(tree)
    return [f"{path.relative_to(PACKAGE)}:{node.lineno}: {tag}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings
            for tag in TAGS if tag in node.value]


def test_only_qwen_format_spells_qwens_tags() -> None:
    home = Path(qwen_format.__file__)
    found = [hit for path in sorted(PACKAGE.rglob("*.py")) if path != home
             for hit in _spelled_tags(path)]
    assert found == []


def test_the_guard_finds_each_tag_where_code_spells_it() -> None:
    assert len(_spelled_tags(Path(qwen_format.__file__))) == len(TAGS)
