"""Write one benchmark's results into BENCHMARKS.md, replacing its previous section."""

from __future__ import annotations

import datetime
import platform
import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "BENCHMARKS.md"


def write_section(title: str, command: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of BENCHMARKS.md."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    stamp = datetime.date.today().isoformat()
    section = (f"## {title}\n\nCommand: `{command}`  \nRun: {stamp} on "
               f"{platform.machine()}, {platform.python_version()}\n\n{body}\n")
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    BENCHMARKS.write_text(text)
