"""Opening the gateway database: Alembic migrations from empty, idempotent, without drift
from tables.py, on SQLite (WAL mode) and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from harness.process import free_port
from harness.services import PostgresServer

from qwenchat.errors import ConfigError
from qwenchat.gateway.database import MIGRATIONS, STATEMENT_TIMEOUT, connect, open_database
from qwenchat.gateway.tables import api_keys, metadata, usage

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)


def head() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(gateway_db: sa.Engine) -> str | None:
    with gateway_db.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_there_is_one_head() -> None:
    assert ScriptDirectory(str(MIGRATIONS)).get_heads() == ["0004"]


def test_an_empty_database_gets_every_table_at_the_head_revision(gateway_db: sa.Engine) -> None:
    tables = set(sa.inspect(gateway_db).get_table_names())
    assert tables == {*metadata.tables, "alembic_version"}
    assert current_revision(gateway_db) == head()


def test_the_migrated_schema_matches_tables_py(gateway_db: sa.Engine) -> None:
    with gateway_db.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_opening_again_migrates_nothing_and_keeps_the_rows(database_url: str,
                                                         gateway_db: sa.Engine) -> None:
    with gateway_db.begin() as connection:
        connection.execute(sa.insert(api_keys).values(
            id="key-1", name="ci", secret_hash="0" * 64, hint="sk-...abcd", region="local",
            created_at=NOW))
        connection.execute(sa.insert(usage).values(
            created_at=NOW, day="2026-03-04", request_id="req-1", key_id="key-1",
            model="qwen-plus", deployment="local", stream=False, status=200, prompt_tokens=1,
            cached_tokens=0, completion_tokens=2, reasoning_tokens=0, duration_ms=5.0))
    again = open_database(database_url)
    try:
        assert current_revision(again) == head()
        with again.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM alembic_version")
                                      ).scalar_one() == 1
            assert connection.execute(sa.select(api_keys.c.name)).scalars().all() == ["ci"]
            assert connection.execute(sa.select(usage.c.request_id)).scalars().all() == ["req-1"]
    finally:
        again.dispose()


def test_a_database_at_the_first_revision_keeps_its_keys_and_gains_key_wide_limits(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = connect(url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with old.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
        with old.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO api_keys (id, name, secret_hash, hint, region, created_at, rpm) "
                "VALUES ('key-1', 'ci', :hash, 'sk-...abcd', 'local', :now, 5)"),
                {"hash": "0" * 64, "now": NOW})
    finally:
        old.dispose()
    engine = open_database(url)
    try:
        assert current_revision(engine) == head()
        with engine.connect() as connection:
            row = connection.execute(sa.select(api_keys)).one()._mapping
        assert (row["name"], row["rpm"]) == ("ci", 5)
        assert (row["total_rpm"], row["total_tpm"], row["max_in_flight"]) == (None, None, None)
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_in_a_directory_it_creates(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "gateway.db"
    engine = open_database(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1  # NORMAL
        assert path.is_file()
    finally:
        engine.dispose()


def test_a_database_from_a_newer_version_is_a_config_error(database_url: str,
                                                          gateway_db: sa.Engine) -> None:
    with gateway_db.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(ConfigError, match="9999"):
        open_database(database_url)


def test_an_unreachable_database_is_a_config_error_without_the_password() -> None:
    url = f"postgresql+psycopg://qwenchat:s3cret@127.0.0.1:{free_port()}/gateway"
    with pytest.raises(ConfigError) as raised:
        open_database(url)
    assert "127.0.0.1" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_a_database_at_0001_is_migrated_to_the_head_keeping_one_row_per_request(
        database_url: str) -> None:
    engine = connect(database_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            for request_id, tokens in (("req-1", 1), ("req-2", 2), ("req-1", 3)):
                connection.execute(sa.insert(usage).values(
                    created_at=NOW, day="2026-03-04", request_id=request_id, key_id=None,
                    model="qwen-plus", deployment="local", stream=False, status=200,
                    prompt_tokens=tokens, cached_tokens=0, completion_tokens=2,
                    reasoning_tokens=0, duration_ms=5.0))
    finally:
        engine.dispose()
    migrated = open_database(database_url)
    try:
        assert current_revision(migrated) == head()
        indexes = {index["name"] for index in sa.inspect(migrated).get_indexes("usage")}
        assert "ix_usage_request_id" in indexes
        with migrated.connect() as connection:
            rows = connection.execute(sa.select(usage.c.request_id, usage.c.prompt_tokens)
                                      .order_by(usage.c.id)).all()
            assert [tuple(row) for row in rows] == [("req-1", 1), ("req-2", 2)]
    finally:
        migrated.dispose()


def test_postgresql_sessions_carry_the_statement_timeout(postgres_server: PostgresServer) -> None:
    engine = open_database(postgres_server.create_database())
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW statement_timeout").scalar_one() == (
                f"{int(STATEMENT_TIMEOUT)}s")
    finally:
        engine.dispose()
