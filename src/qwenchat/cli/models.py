"""``qwenchat models``: the model ids an endpoint (qwenchat's or DashScope's) serves."""

from __future__ import annotations

import click

from qwenchat.cli._endpoint import (
    api_key_option,
    base_url_option,
    client_errors,
    connect,
    region_option,
    retries_option,
)
from qwenchat.client import ChatClient


@click.group()
def models() -> None:
    """List the model ids an endpoint serves (qwenchat's or DashScope's)."""


@models.command("list")
@base_url_option
@api_key_option
@region_option
@retries_option
def list_command(base_url: str | None, api_key: str | None, region: str | None,
                 retries: int) -> None:
    """Print the endpoint's model ids, one a line (GET /models)."""
    with client_errors(), connect(base_url, api_key, region, retries) as client:
        print_models(client)


def print_models(client: ChatClient) -> None:
    """The endpoint's model ids on stdout, one a line."""
    click.echo("\n".join(client.list_models()))
