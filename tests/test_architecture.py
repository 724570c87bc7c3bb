"""docs/architecture.md names every module of the package, and only modules that exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "qwenchat"
DOC = REPO / "docs" / "architecture.md"
NAME = re.compile(r"`(qwenchat(?:\.[\w*]+)*)`")


def source_modules() -> set[str]:
    """Every module under src/qwenchat, dotted (a package by its own name)."""
    modules = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def listed_modules() -> list[str]:
    """The entries of the module list: bullets of "Where each behaviour lives" that start
    with a module's name (``pkg.*`` stands for every module below ``pkg``)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Where each behaviour lives", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `(qwenchat[\w.*]*)`", section, re.M)


def covers(entry: str, module: str) -> bool:
    if entry.endswith(".*"):
        return module.startswith(entry[:-1])
    return module == entry


def test_every_module_is_in_the_list() -> None:
    entries = listed_modules()
    missing = sorted(m for m in source_modules() if not any(covers(e, m) for e in entries))
    assert not missing, f"docs/architecture.md does not list: {missing}"


def test_the_list_names_each_module_once() -> None:
    entries = listed_modules()
    assert len(entries) == len(set(entries))


def test_every_module_the_doc_names_exists() -> None:
    modules = source_modules()
    named = set(NAME.findall(DOC.read_text(encoding="utf-8")))
    unknown = sorted(n for n in named if not any(covers(n, m) for m in modules))
    assert not unknown, f"docs/architecture.md names modules that do not exist: {unknown}"
