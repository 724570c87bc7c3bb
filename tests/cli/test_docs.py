"""docs/cli.md carries each command's `--help` verbatim: regenerated here, so it cannot drift.

After changing a command's options or docstring, run `.venv/bin/python tests/cli/test_docs.py`
to rewrite the generated blocks, and commit the result.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
from click.testing import CliRunner

from qwenchat.cli.main import cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
WIDTH = 100
BLOCK = re.compile(r"(?P<head><!-- help: (?P<name>[\w -]+?) -->\n```text\n)(?P<text>.*?)"
                   r"(?P<tail>```\n<!-- end help -->)", re.S)


def help_text(name: str) -> str:
    """What `qwenchat NAME --help` prints (`qwenchat --help` for the name `qwenchat`); NAME
    may be a subcommand path such as `keys create`."""
    args = ["--help"] if name == "qwenchat" else [*name.split(), "--help"]
    result = CliRunner().invoke(cli, args, prog_name="qwenchat", terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    return result.output


def regenerate(doc: str) -> str:
    """``doc`` with every generated block replaced by the current help text."""
    return BLOCK.sub(lambda m: m["head"] + help_text(m["name"]) + m["tail"], doc)


def test_cli_doc_matches_the_help() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert regenerate(doc) == doc, (
        "docs/cli.md is stale: run `.venv/bin/python tests/cli/test_docs.py`")


def test_every_command_is_documented() -> None:
    documented = {match["name"] for match in BLOCK.finditer(DOC.read_text(encoding="utf-8"))}
    assert documented >= {"qwenchat", "chat", "serve", "pull"}
    assert documented >= set(cli.commands)
    groups = {name: command for name, command in cli.commands.items()
              if isinstance(command, click.Group)}
    assert documented >= {f"{group} {sub}" for group, command in groups.items()
                          for sub in command.commands}


if __name__ == "__main__":
    DOC.write_text(regenerate(DOC.read_text(encoding="utf-8")), encoding="utf-8")
