"""The ``qwenchat`` entry point: a click group that gathers the command modules."""

from __future__ import annotations

import click

from qwenchat import __version__
from qwenchat.cli.chat import chat
from qwenchat.cli.history import history
from qwenchat.cli.keys import keys
from qwenchat.cli.models import models
from qwenchat.cli.pull import pull
from qwenchat.cli.serve import serve
from qwenchat.cli.usage import usage


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qwenchat")
def cli() -> None:
    """Qwen chat behind DashScope's OpenAI-compatible API, on an embedded llama.cpp engine."""


cli.add_command(serve)
cli.add_command(pull)
cli.add_command(chat)
cli.add_command(models)
cli.add_command(history)
cli.add_command(keys)
cli.add_command(usage)


def main() -> None:
    """Run the command line (the ``qwenchat`` console script)."""
    cli()
