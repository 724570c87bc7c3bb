"""``qwenchat usage``: requests and tokens from the usage ledger, by day, key and model.

Three shapes: rich tables for people (totals, then each key's remaining quota when some key
has one), ``--json`` (``{"usage": [...], "quotas": [...]}``, every field) and ``--csv``
(the totals only, one header line, for spreadsheets). Requests made without a key show as
key ``-``. Tokens used = prompt + completion, the count quotas are charged.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import date
from pathlib import Path

import click
from rich.table import Table

from qwenchat.cli._gateway import config_option, console, gateway, since_option
from qwenchat.gateway import KeyStore, QuotaStatus, UsageTotal, quota_status, usage_totals

CSV_COLUMNS = ("day", "key", "key_id", "model", "requests", "errors", "prompt_tokens",
               "cached_tokens", "completion_tokens", "reasoning_tokens", "total_tokens")
_COUNTS = CSV_COLUMNS[4:]


@click.command()
@click.option("--since", callback=since_option, metavar="DURATION|DATE", default=None,
              help="Only UTC days from then on: a duration back from now (12h, 7d, 2w) or a "
                   "date YYYY-MM-DD [default: every day].")
@click.option("--key", "key_ref", metavar="NAME_OR_ID", default=None,
              help="Only this key's usage and quota.")
@click.option("--model", default=None, help="Only this model id's usage.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"usage": [...], "quotas": [...]} as JSON.')
@click.option("--csv", "as_csv", is_flag=True, help="Print the usage rows as CSV, with a header.")
@config_option
def usage(since: date | None, key_ref: str | None, model: str | None, as_json: bool,
          as_csv: bool, config_path: Path | None) -> None:
    """Show requests, errors and tokens by day, key and model, and the keys' quotas left."""
    if as_json and as_csv:
        raise click.UsageError("Choose one of --json and --csv.")
    with gateway(config_path) as (_, engine):
        key_id = KeyStore(engine).get(key_ref).id if key_ref is not None else None
        totals = usage_totals(engine, since=since, key=key_id, model=model)
        quotas = [q for q in quota_status(engine) if key_id in (None, q.key_id)]
    if as_json:
        click.echo(json.dumps({"usage": [dataclasses.asdict(t) for t in totals],
                               "quotas": [dataclasses.asdict(q) for q in quotas]}, indent=2))
    elif as_csv:
        click.echo(_csv(totals), nl=False)
    else:
        _print_tables(totals, quotas)


def _csv(totals: list[UsageTotal]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for total in totals:
        writer.writerow([total.day, _key_label(total), total.key_id or "", total.model,
                         *(getattr(total, name) for name in _COUNTS)])
    return buffer.getvalue()


def _print_tables(totals: list[UsageTotal], quotas: list[QuotaStatus]) -> None:
    out = console()
    if totals:
        out.print(_usage_table(totals))
    else:
        out.print("No usage recorded.")
    if quotas:
        out.print(_quota_table(quotas))


def _usage_table(totals: list[UsageTotal]) -> Table:
    sums = [sum(getattr(total, name) for total in totals) for name in _COUNTS]
    table = Table(title="Usage", show_footer=len(totals) > 1)
    for header, footer in (("Day (UTC)", "Total"), ("Key", ""), ("Model", "")):
        table.add_column(header, footer)
    for header, value in zip(("Requests", "Errors", "Prompt", "Cached", "Completion",
                              "Reasoning", "Total tokens"), sums, strict=True):
        table.add_column(header, f"{value:,}", justify="right")
    for total in totals:
        table.add_row(total.day, _key_label(total), total.model,
                      *(f"{getattr(total, name):,}" for name in _COUNTS))
    return table


def _quota_table(quotas: list[QuotaStatus]) -> Table:
    table = Table("Key", "Quota", "Used", "Remaining", title="Quota")
    for column in table.columns[1:]:
        column.justify = "right"
    for quota in quotas:
        table.add_row(quota.key_name, f"{quota.quota_tokens:,}", f"{quota.used_tokens:,}",
                      f"{quota.remaining_tokens:,}")
    return table


def _key_label(total: UsageTotal) -> str:
    """The key's name; its id if the key is gone from the database; ``-`` for no key."""
    return total.key_name or total.key_id or "-"
