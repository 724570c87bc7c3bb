"""What the gateway commands (``keys``, ``usage``) share: ``--config``, the database, times.

Rules they keep:

* the database is the one the settings name: the ``--config`` file, then ``QWENCHAT_*``
  variables (``QWENCHAT_HOME``, ``QWENCHAT_DATABASE_URL``); it is opened (and migrated) for
  one command and disposed after it;
* a qwenchat error (bad settings, unknown key, taken name) becomes a one-line click error,
  exit code 1; a bad option value is a usage error, exit code 2;
* times are UTC. A duration is a whole number and a unit: ``3600s``, ``90m``, ``12h``,
  ``30d``, ``2w``;
* tables go to stdout through rich; off a terminal they are never squeezed to 80 columns.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import click
from rich.console import Console
from sqlalchemy import Engine

from qwenchat.errors import QwenchatError
from qwenchat.gateway import open_database
from qwenchat.settings import Settings

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="TOML settings file naming the database (see README); QWENCHAT_* variables override "
         "it [default: $QWENCHAT_HOME/qwenchat.db].")

_DURATION = re.compile(r"(\d+)([smhdw])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_WIDE = 200  # columns of a table that goes to a pipe or a file


@contextmanager
def gateway(config_path: Path | None) -> Iterator[tuple[Settings, Engine]]:
    """The settings and the open gateway database, for the time of one command."""
    try:
        settings = Settings.load(config_path)
        engine = open_database(settings.database_url())
    except QwenchatError as exc:
        raise click.ClickException(exc.message) from exc
    try:
        yield settings, engine
    except QwenchatError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        engine.dispose()


def console() -> Console:
    """A rich console on stdout."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else _WIDE)


def parse_duration(text: str) -> timedelta | None:
    """``30d`` -> 30 days; None if ``text`` is not a duration."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        return None
    try:
        return timedelta(seconds=int(match[1]) * _SECONDS[match[2]])
    except OverflowError:
        raise ValueError(f"'{text}' is too long a duration.") from None


def expiry(text: str, now: datetime) -> datetime:
    """When a key expires: ``now`` + a duration, or an ISO date or date-time (UTC unless it
    names its offset; a date means its midnight). ``ValueError`` unless it is after ``now``."""
    duration = parse_duration(text)
    try:
        when = now + duration if duration is not None else _iso_datetime(text)
    except OverflowError:
        raise ValueError(f"'{text}' is too far in the future.") from None
    if when <= now:
        raise ValueError(f"'{text}' is not in the future.")
    return when


def since_day(text: str, now: datetime) -> date:
    """The first UTC day of a report: the day a duration ago, or an ISO date."""
    duration = parse_duration(text)
    try:
        if duration is not None:
            return (now - duration).date()
    except OverflowError:
        raise ValueError(f"'{text}' is too far back.") from None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"'{text}' is neither a duration (7d, 12h, 2w) nor a date "
                         "(YYYY-MM-DD).") from None


def _iso_datetime(text: str) -> datetime:
    value = text.strip()
    if value.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not read 'Z'
        value = value[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{text}' is neither a duration (90m, 12h, 30d, 2w) nor an ISO "
                         "date or date-time (2030-01-31, 2030-01-31T12:00).") from None
    if when.tzinfo is None:
        return when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def expiry_option(_ctx: click.Context, _param: click.Parameter,
                  value: str | None) -> datetime | None:
    """Click callback of ``--expires``: :func:`expiry` from now, or None."""
    if value is None:
        return None
    try:
        return expiry(value, datetime.now(timezone.utc))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def since_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    """Click callback of ``--since``: :func:`since_day` from now, or None."""
    if value is None:
        return None
    try:
        return since_day(value, datetime.now(timezone.utc))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
