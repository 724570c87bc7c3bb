"""The endpoint a client command talks to: its options, the client, and how errors end it.

``qwenchat chat`` and ``qwenchat models`` share these: the options that name the endpoint
(``--base-url``, ``--api-key``, ``--region``, ``--retries``), the client they resolve to (its
retries announced on stderr), and :func:`client_errors`, which prints a
:class:`~qwenchat.client.ClientError` as one ``Error:`` line and exits with its code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from qwenchat.client import REGIONS, ChatClient, ClientError, RetryPolicy, resolve_connection

DEFAULT_RETRIES = RetryPolicy().max_attempts - 1

base_url_option = click.option("--base-url", help="API base URL [env: QWEN_BASE_URL].")
api_key_option = click.option(
    "--api-key", help="API key [env: DASHSCOPE_API_KEY, QWEN_API_KEY, QWENCLOUD_API_KEY, "
                      "or .env].")
region_option = click.option(
    "--region", type=click.Choice(list(REGIONS), case_sensitive=False),
    help="DashScope region, or 'local' for `qwenchat serve` [env: QWEN_REGION; "
         "default: beijing].")
retries_option = click.option(
    "--retries", type=click.IntRange(min=0), default=DEFAULT_RETRIES, show_default=True,
    help="Retries on 429, 5xx and connection errors.")


@contextmanager
def client_errors() -> Iterator[None]:
    """Print a ClientError as ``Error: <message>`` and exit with the code it carries."""
    try:
        yield
    except ClientError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        raise click.exceptions.Exit(exc.exit_code) from exc


def connect(base_url: str | None, api_key: str | None, region: str | None,
            retries: int) -> ChatClient:
    """The client for the endpoint the options and environment name; retries shown."""
    connection = resolve_connection(base_url=base_url, api_key=api_key, region=region)
    retry = RetryPolicy(max_attempts=retries + 1)
    return ChatClient(connection, retry=retry, on_retry=_say_retry)


def _say_retry(attempt: int, delay: float, reason: str) -> None:
    click.secho(f"qwenchat: attempt {attempt} failed ({reason}); retrying in {delay:.1f}s",
                dim=True, err=True)
