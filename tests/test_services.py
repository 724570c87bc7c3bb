"""The throw-away Redis and PostgreSQL servers the tests start (harness/services.py) work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
import sqlalchemy as sa
from harness.services import PostgresServer, RedisServer


@contextmanager
def engine_for(url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def test_redis_server_stores_and_returns_a_value(redis_server: RedisServer) -> None:
    with redis.Redis.from_url(redis_server.url) as client:
        client.set("greeting", "hello")
        assert client.get("greeting") == b"hello"


def test_postgres_server_gives_each_test_an_empty_database(
        postgres_server: PostgresServer) -> None:
    with engine_for(postgres_server.create_database()) as engine:
        assert sa.inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE notes (id serial PRIMARY KEY, body text)"))
            conn.execute(sa.text("INSERT INTO notes (body) VALUES (:body)"), {"body": "hello"})
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT body FROM notes")).scalars().all() == ["hello"]
    with engine_for(postgres_server.create_database()) as engine:
        assert sa.inspect(engine).get_table_names() == []
