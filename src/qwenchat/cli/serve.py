"""``qwenchat serve``: run the DashScope-compatible API on the embedded engine."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import click

from qwenchat.api import serve_forever
from qwenchat.catalog import Catalog
from qwenchat.errors import QwenchatError
from qwenchat.gateway import Gateway
from qwenchat.service import ChatService
from qwenchat.settings import EngineSettings, ServerSettings, Settings

_SERVER, _ENGINE = ServerSettings(), EngineSettings()  # the defaults the help shows


@click.command()
@click.option("--host", default=None, help=f"Address to listen on [default: {_SERVER.host}].")
@click.option("--port", type=int, default=None,
              help=f"Port to listen on [default: {_SERVER.port}].")
@click.option("--model", default=None,
              help="Model behind every id: a GGUF path, an alias (qwen3-0.6b, qwen3-1.7b, "
                   "qwen3-4b) or 'starter' [default: the best pulled Qwen model, else the "
                   "starter, fetched on first use].")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="TOML settings file (see README); QWENCHAT_* variables and these options "
                   "override it.")
@click.option("--context-size", type=int, default=None,
              help=f"Tokens per request, prompt and output [default: {_ENGINE.context_size}, "
                   "capped by the model]; each slot holds this much KV cache.")
@click.option("--slots", type=int, default=None,
              help=f"Requests generated together (continuous batching) [default: "
                   f"{_ENGINE.slots} = from the core count, at least 4].")
@click.option("--threads", type=int, default=None,
              help=f"llama.cpp threads [default: {_ENGINE.threads} = cores - 1].")
@click.option("--auth", default=None, type=click.Choice(["auto", "required", "none"]),
              help="When API keys are required [default: auto = once a key exists (qwenchat "
                   "keys create) or when HOST is not loopback].")
@click.option("--playground/--no-playground", default=None,
              help="Serve the web playground at / [default: on].")
@click.option("--max-connections", type=int, default=None,
              help="Open connections served at once; more are answered 503 [default: "
                   f"{_SERVER.max_connections}].")
@click.option("--docs/--no-docs", default=None,
              help="Serve the OpenAPI page at /docs and /openapi.json [default: off].")
@click.option("--log-level", default=None,
              type=click.Choice(["debug", "info", "warning", "error"]),
              help=f"[default: {_SERVER.log_level}]")
@click.option("--print-config", is_flag=True, help="Print the effective settings and exit.")
def serve(host: str | None, port: int | None, model: str | None, config_path: Path | None,
          context_size: int | None, slots: int | None, threads: int | None,
          auth: str | None, playground: bool | None, max_connections: int | None,
          docs: bool | None, log_level: str | None, print_config: bool) -> None:
    """Serve chat completions at /compatible-mode/v1 (and /v1) on HOST:PORT, and the web
    playground at /."""
    try:
        settings = Settings.load(config_path).with_overrides(
            server={"host": host, "port": port, "log_level": log_level,
                    "playground": playground, "max_connections": max_connections,
                    "docs": docs},
            engine={"model": model, "context_size": context_size, "slots": slots,
                    "threads": threads},
            gateway={"auth": auth},
        )
    except QwenchatError as exc:
        raise click.ClickException(exc.message) from exc
    if print_config:
        click.echo(settings.to_toml(), nl=False)
        return
    _configure_logging(settings.server.log_level)
    try:
        gateway = Gateway.open(settings)
        catalog = Catalog.build(settings, say=lambda text: click.echo(text, err=True))
    except QwenchatError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"qwenchat: auth {settings.gateway.auth}, usage ledger at "
               f"{gateway.database.url.render_as_string(hide_password=True)}", err=True)
    served = catalog.describe()
    for model_id, source in served:
        logging.getLogger("qwenchat").debug("%s -> %s", model_id, source)
    for source, count in Counter(source for _, source in served).items():
        click.echo(f"qwenchat: serving {count} model ids from {source}", err=True)
    try:
        service = ChatService.build(catalog, settings.engine, settings.deployments)
    except QwenchatError as exc:
        raise click.ClickException(exc.message) from exc
    serve_forever(service, gateway, settings.server)


def _configure_logging(level: str) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("qwenchat").setLevel(level.upper())
