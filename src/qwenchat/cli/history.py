"""``qwenchat history``: the conversations ``qwenchat chat`` stored in $QWENCHAT_HOME."""

from __future__ import annotations

import json

import click

from qwenchat.cli._endpoint import client_errors
from qwenchat.client import ConversationStore

DEFAULT_LIMIT = 20


@click.group()
def history() -> None:
    """List and show the stored conversations of `qwenchat chat` ($QWENCHAT_HOME/history.db)."""


@history.command("list")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=DEFAULT_LIMIT,
              show_default=True, help="How many conversations, latest first.")
def list_command(limit: int) -> None:
    """List the stored conversations, latest first: id, last update, model, messages, title.

    Continue one with `qwenchat chat --conversation ID` (a unique prefix of ID is enough).
    """
    with client_errors():
        print_history(limit)


@history.command("show")
@click.argument("conversation_id", metavar="ID")
def show_command(conversation_id: str) -> None:
    """Print conversation ID (or a unique prefix of it) as JSON: id, model, system, title,
    times, token totals and its messages."""
    with client_errors(), ConversationStore() as store:
        info = dict(store.info(conversation_id))
        info["messages"] = store.messages(info["id"])
        click.echo(json.dumps(info, indent=2, ensure_ascii=False))


def print_history(limit: int = DEFAULT_LIMIT) -> None:
    """The ``limit`` latest conversations, one a line (a note on stderr when there are none)."""
    with ConversationStore() as store:
        conversations = store.list(limit)
    if not conversations:
        click.echo("No conversations yet.", err=True)
    for info in conversations:
        click.echo(f"{info['id']}  {info['updated'][:16].replace('T', ' ')}  "
                   f"{info['model']:<14} {info['messages']:>3} messages  "
                   f"{info['title'] or ''}")
