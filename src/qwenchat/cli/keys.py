"""``qwenchat keys``: create, list, revoke and rotate the API keys the gateway accepts.

A secret is printed once, alone on its line on stdout, when a key is created or rotated
(so ``KEY=$(qwenchat keys create --name ci)`` works); what goes with it is said on stderr.
Nothing else ever prints a secret: lists show its hint (``sk-…`` + last four characters).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from qwenchat.catalog import BUILTIN_PROFILES
from qwenchat.cli._gateway import config_option, console, expiry_option, gateway
from qwenchat.gateway import ApiKey, KeyStore, NewKey
from qwenchat.settings import Settings


@click.group()
def keys() -> None:
    """Create, list, revoke and rotate API keys (stored hashed in the gateway database)."""


@keys.command()
@click.option("--name", required=True, help="A name for the key, unique among all keys.")
@click.option("--models", metavar="ID,ID", default=None,
              help="Model ids the key may use, comma-separated [default: every model].")
@click.option("--rpm", type=click.IntRange(min=1), default=None,
              help="Requests per minute, per model [default: the server's key_rpm].")
@click.option("--tpm", type=click.IntRange(min=1), default=None,
              help="Tokens per minute, per model [default: the server's key_tpm].")
@click.option("--total-rpm", type=click.IntRange(min=1), default=None,
              help="Requests per minute over all models together [default: none].")
@click.option("--total-tpm", type=click.IntRange(min=1), default=None,
              help="Tokens per minute over all models together [default: none].")
@click.option("--quota-tokens", type=click.IntRange(min=1), default=None,
              help="Lifetime token quota, prompt + completion [default: none].")
@click.option("--max-in-flight", type=click.IntRange(min=0), default=None,
              help="Requests open at once, 0 for no cap [default: the server's "
                   "key_max_in_flight].")
@click.option("--expires", callback=expiry_option, metavar="DURATION|DATE", default=None,
              help="When the key stops working: a duration from now (90m, 12h, 30d, 2w) or "
                   "an ISO date or date-time, UTC [default: never].")
@click.option("--region", default=None,
              help="The region the key is valid in [default: the settings' gateway.region].")
@config_option
def create(name: str, models: str | None, rpm: int | None, tpm: int | None,
           total_rpm: int | None, total_tpm: int | None, quota_tokens: int | None,
           max_in_flight: int | None, expires: datetime | None, region: str | None,
           config_path: Path | None) -> None:
    """Create a key and print its secret on stdout: it is shown this once, never again."""
    model_ids = [part.strip() for part in (models or "").split(",") if part.strip()]
    with gateway(config_path) as (settings, engine):
        for model_id in _unknown_models(model_ids, settings):
            click.echo(f"Warning: '{model_id}' is not a built-in model id or a configured "
                       "alias.", err=True)
        new = KeyStore(engine).create(
            name, region=region or settings.gateway.region, models=model_ids or None,
            rpm=rpm, tpm=tpm, quota_tokens=quota_tokens, expires_at=expires,
            total_rpm=total_rpm, total_tpm=total_tpm, max_in_flight=max_in_flight)
    _show_secret(new)


@keys.command(name="list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list with every field.")
@config_option
def list_keys(include_revoked: bool, as_json: bool, config_path: Path | None) -> None:
    """List the keys, oldest first (revoked ones only with --all); never their secrets."""
    with gateway(config_path) as (_, engine):
        found = KeyStore(engine).list(include_revoked=include_revoked)
    now = datetime.now(timezone.utc)
    if as_json:
        click.echo(json.dumps([_key_json(key, now) for key in found], indent=2,
                              ensure_ascii=False))
    elif not found:
        click.echo("No keys yet: create one with `qwenchat keys create --name NAME`.")
    else:
        console().print(_key_table(found, now))


@keys.command()
@click.argument("name_or_id")
@config_option
def revoke(name_or_id: str, config_path: Path | None) -> None:
    """Revoke key NAME_OR_ID for good: requests with its secret are refused from now on."""
    with gateway(config_path) as (_, engine):
        key = KeyStore(engine).revoke(name_or_id)
    click.echo(f"Revoked key '{key.name}' ({key.id}).", err=True)


@keys.command()
@click.argument("name_or_id")
@config_option
def rotate(name_or_id: str, config_path: Path | None) -> None:
    """Give key NAME_OR_ID a new secret and print it; the old secret stops working at once.

    The key keeps its id, limits, quota and usage.
    """
    with gateway(config_path) as (_, engine):
        new = KeyStore(engine).rotate(name_or_id)
    _show_secret(new)


def status_of(key: ApiKey, now: datetime) -> str:
    """``revoked``, ``expired`` or ``active``."""
    if key.is_revoked:
        return "revoked"
    return "expired" if key.is_expired(now) else "active"


def _unknown_models(model_ids: list[str], settings: Settings) -> list[str]:
    """Ids neither built in nor configured as aliases (maybe typos; still accepted)."""
    return [m for m in model_ids if m not in BUILTIN_PROFILES and m not in settings.aliases]


def _show_secret(new: NewKey) -> None:
    key = new.key
    click.echo(new.secret)
    click.echo("Save this key now: it is not shown again.", err=True)
    click.echo(f"  name {key.name}, id {key.id}, region {key.region}", err=True)
    click.echo(f"  models {_models(key)}, rpm {_number(key.rpm)}, tpm {_number(key.tpm)}, "
               f"quota {_number(key.quota_tokens)} tokens, expires {_when(key.expires_at)}",
               err=True)
    click.echo(f"  over all models: rpm {_number(key.total_rpm)}, tpm "
               f"{_number(key.total_tpm)}; in flight {_number(key.max_in_flight)}", err=True)


def _key_json(key: ApiKey, now: datetime) -> dict[str, Any]:
    data = dataclasses.asdict(key)
    for name, value in data.items():
        if isinstance(value, datetime):
            data[name] = value.isoformat()
    data["models"] = list(key.models) if key.models is not None else None
    data["status"] = status_of(key, now)
    return data


def _key_table(found: list[ApiKey], now: datetime) -> Table:
    table = Table("Name", "Id", "Hint", "Models", "RPM", "TPM", "Quota", "Region",
                  "Created (UTC)", "Expires (UTC)", "Status")
    for column in table.columns[4:7]:
        column.justify = "right"
    for key in found:
        table.add_row(key.name, key.id, key.hint, _models(key), _number(key.rpm),
                      _number(key.tpm), _number(key.quota_tokens), key.region,
                      _when(key.created_at), _when(key.expires_at), status_of(key, now))
    return table


def _models(key: ApiKey) -> str:
    return ",".join(key.models) if key.models is not None else "all"


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _when(value: datetime | None) -> str:
    return "never" if value is None else value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")
