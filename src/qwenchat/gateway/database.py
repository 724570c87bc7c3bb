"""Opening the gateway database and bringing its schema up to date with Alembic.

SQLite (the default, a file under ``QWENCHAT_HOME``) runs in WAL mode so that the CLI can
read while the server writes, with ``synchronous=NORMAL``: a committed transaction survives
the process being killed (it is in the WAL file), only a power loss can take the last ones.
Any other SQLAlchemy URL (``postgresql+psycopg://...``) is used as given, with bounds on
waiting unless the URL sets its own: PostgreSQL connects within :data:`CONNECT_TIMEOUT`
seconds (libpq ``connect_timeout``, the whole handshake), a statement runs at most
:data:`STATEMENT_TIMEOUT` seconds (server-side ``statement_timeout``; migrations run
without it), data the network does not acknowledge for :data:`TCP_USER_TIMEOUT` seconds
breaks the connection (``tcp_user_timeout``: packets dropped on a dead link), and a pool
checkout waits at most :data:`POOL_TIMEOUT` seconds. SQLite waits
at most :data:`BUSY_TIMEOUT` seconds for another writer's lock. A database that accepts
bytes and never answers is beyond what the server can bound: :func:`abort` cuts such a
connection from another thread.

:func:`open_database` migrates to the newest schema before returning; migrations are
append-only files under ``migrations/versions``.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from qwenchat.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")
CONNECT_TIMEOUT = 5
STATEMENT_TIMEOUT = 10.0
POOL_TIMEOUT = 5.0
BUSY_TIMEOUT = 5.0
TCP_USER_TIMEOUT = 10.0


def open_database(url: str) -> Engine:
    """An engine for ``url`` whose schema is at the newest migration."""
    engine = connect(url)
    try:
        migrate(engine)
    except (SQLAlchemyError, CommandError) as exc:  # CommandError: a revision we do not know
        engine.dispose()
        raise ConfigError(f"Cannot open the database {_safe(url)}: {exc}") from exc
    return engine


def connect(url: str, *, pooled: bool = True) -> Engine:
    """An engine for ``url`` (SQLite: directory created, WAL mode), without migrating.

    ``pooled=False``: every connection is a new one (no pool, no pre-ping round trip that
    could hang on a connection kept from before a network fault).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        pool: dict[str, Any] = ({"pool_pre_ping": True, "pool_timeout": POOL_TIMEOUT}
                                if pooled else {"poolclass": NullPool})
        return create_engine(url, connect_args=_postgres_bounds(parsed.query), **pool)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    extra: dict[str, Any] = {} if pooled else {"poolclass": NullPool}
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT}, **extra)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def migrate(engine: Engine) -> None:
    """Apply every migration the database does not have yet."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # building an index may take a while
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def abort(dbapi_connection: Any) -> None:
    """Make a statement blocked on ``dbapi_connection`` fail now (from another thread).

    PostgreSQL: the socket is shut down, so a read waiting for a server that never answers
    returns at once with an error. SQLite: the statement is interrupted.
    """
    pgconn = getattr(dbapi_connection, "pgconn", None)
    if pgconn is not None:
        with contextlib.suppress(Exception):  # already closed: nothing to abort
            sock = socket.socket(fileno=os.dup(pgconn.socket))
            with sock:
                sock.shutdown(socket.SHUT_RDWR)
    elif hasattr(dbapi_connection, "interrupt"):
        with contextlib.suppress(Exception):
            dbapi_connection.interrupt()


def _postgres_bounds(query: Any) -> dict[str, Any]:
    """libpq options bounding connection and statements, unless the URL sets its own."""
    bounds: dict[str, Any] = {}
    if "connect_timeout" not in query:
        bounds["connect_timeout"] = CONNECT_TIMEOUT
    if "options" not in query:
        bounds["options"] = f"-c statement_timeout={int(STATEMENT_TIMEOUT * 1000)}"
    if "tcp_user_timeout" not in query:
        bounds["tcp_user_timeout"] = int(TCP_USER_TIMEOUT * 1000)
    return bounds


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    cursor.close()


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
