"""Opening the gateway database and bringing its schema up to date with Alembic.

SQLite (the default, a file under ``QWENCHAT_HOME``) runs in WAL mode so that the CLI can
read while the server writes, with ``synchronous=NORMAL``: a committed transaction survives
the process being killed (it is in the WAL file), only a power loss can take the last ones.
Any other SQLAlchemy URL (``postgresql+psycopg://...``) is used as given.

:func:`open_database` migrates to the newest schema before returning; migrations are
append-only files under ``migrations/versions``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from qwenchat.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")


def open_database(url: str) -> Engine:
    """An engine for ``url`` whose schema is at the newest migration."""
    engine = connect(url)
    try:
        migrate(engine)
    except (SQLAlchemyError, CommandError) as exc:  # CommandError: a revision we do not know
        engine.dispose()
        raise ConfigError(f"Cannot open the database {_safe(url)}: {exc}") from exc
    return engine


def connect(url: str) -> Engine:
    """An engine for ``url`` (SQLite: directory created, WAL mode), without migrating."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def migrate(engine: Engine) -> None:
    """Apply every migration the database does not have yet."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
