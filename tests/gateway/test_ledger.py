"""The usage ledger: rows committed by a writer thread, many per commit, on SQLite and
PostgreSQL; rows the database does not take in time journalled, then replayed once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from qwenchat.gateway.database import connect, migrate
from qwenchat.gateway.journal import Journal, read_rows
from qwenchat.gateway.ledger import Ledger, UsageRow
from qwenchat.gateway.tables import usage

CREATED = datetime(2026, 3, 4, 23, 59, 30, tzinfo=timezone.utc)


@pytest.fixture
def ledger(gateway_db: sa.Engine) -> Iterator[Ledger]:
    ledger = Ledger(gateway_db)
    yield ledger
    ledger.close()


def usage_row(request_id: str, **fields: object) -> UsageRow:
    values: dict[str, object] = {
        "created_at": CREATED, "request_id": request_id, "key_id": "key-1",
        "model": "qwen-plus", "deployment": "local", "stream": False, "status": 200,
        **fields}
    return UsageRow(**values)


def request_ids(gateway_db: sa.Engine) -> list[str]:
    with gateway_db.connect() as connection:
        return list(connection.execute(sa.select(usage.c.request_id)
                                       .order_by(usage.c.id)).scalars())


def test_a_recorded_row_is_committed_whole_with_its_utc_day(gateway_db: sa.Engine,
                                                             ledger: Ledger) -> None:
    row = usage_row("req-1", stream=True, status=429, error_code="limit_requests",
                    finish_reason="stop", prompt_tokens=11, cached_tokens=3,
                    completion_tokens=7, reasoning_tokens=2, ttft_ms=12.5, duration_ms=80.25)
    ledger.record(row).result(timeout=30)
    with gateway_db.connect() as connection:
        stored = connection.execute(sa.select(usage)).mappings().one()
    created = stored["created_at"]
    if created.tzinfo is None:  # SQLite keeps no zone: the value is UTC
        created = created.replace(tzinfo=timezone.utc)
    assert created == CREATED
    assert stored["day"] == "2026-03-04"
    expected = {name: value for name, value in row.to_row().items() if name != "created_at"}
    assert {name: stored[name] for name in expected} == expected


def test_rows_from_many_threads_share_commits(gateway_db: sa.Engine, ledger: Ledger) -> None:
    num_threads, per_thread = 8, 25
    start = threading.Barrier(num_threads)
    futures: list[Future[None]] = []
    lock = threading.Lock()

    def record_some(thread: int) -> None:
        start.wait()
        for n in range(per_thread):
            future = ledger.record(usage_row(f"req-{thread}-{n}"))
            with lock:
                futures.append(future)

    threads = [threading.Thread(target=record_some, args=(t,)) for t in range(num_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for future in futures:
        future.result(timeout=30)
    expected = {f"req-{t}-{n}" for t in range(num_threads) for n in range(per_thread)}
    stored = request_ids(gateway_db)
    assert len(stored) == 200
    assert set(stored) == expected
    assert ledger.num_commits < 200


def test_record_durably_returns_once_the_row_is_committed(database_url: str,
                                                          ledger: Ledger) -> None:
    reader = sa.create_engine(database_url)
    try:
        for n in range(5):
            asyncio.run(ledger.record_durably(usage_row(f"req-{n}")))
            # Another engine (another connection, as another process would) sees it at once.
            assert request_ids(reader) == [f"req-{i}" for i in range(n + 1)]
    finally:
        reader.dispose()


def test_close_commits_the_rows_still_queued(gateway_db: sa.Engine) -> None:
    ledger = Ledger(gateway_db)
    futures = [ledger.record(usage_row(f"req-{n}")) for n in range(100)]
    ledger.close()
    assert all(future.done() and future.exception() is None for future in futures)
    assert request_ids(gateway_db) == [f"req-{n}" for n in range(100)]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not true after {timeout} s: {what}"
        time.sleep(0.05)


def test_rows_of_a_failed_commit_are_journalled_then_replayed(database_url: str,
                                                              tmp_path: Path) -> None:
    engine = connect(database_url)  # no tables yet: inserts fail
    ledger = Ledger(engine, Journal(tmp_path / "journal.jsonl"))
    try:
        ledger.record(usage_row("req-1")).result(timeout=30)  # safe: in the journal
        assert [row.request_id for row in read_rows(ledger.journal.path)] == ["req-1"]
        migrate(engine)
        wait_until(lambda: not ledger.journal.has_rows(), "the journal replayed")
        assert request_ids(engine) == ["req-1"]
    finally:
        ledger.close()
        engine.dispose()


def test_replay_at_start_up_stores_each_request_once(gateway_db: sa.Engine,
                                                     tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    with Ledger(gateway_db) as ledger_without_journal:
        ledger_without_journal.record(usage_row("req-1")).result(timeout=30)
    # req-1 was committed and journalled too (a late commit); req-2 was journalled twice
    journal.append([usage_row("req-1"), usage_row("req-2")])
    journal.append([usage_row("req-2"), usage_row("req-3")])
    with journal.path.open("ab") as file:
        file.write(b'{"created_at": "2026-03-04T23:')  # torn by a crash
    with Ledger(gateway_db, journal):
        wait_until(lambda: not journal.has_rows(), "the journal replayed")
    assert request_ids(gateway_db) == ["req-1", "req-2", "req-3"]


def test_without_a_journal_a_failed_commit_fails_the_rows(database_url: str) -> None:
    engine = connect(database_url)  # no tables: every insert fails
    try:
        with Ledger(engine) as ledger:
            future = ledger.record(usage_row("req-1"))
            assert isinstance(future.exception(timeout=30), SQLAlchemyError)
    finally:
        engine.dispose()


@contextmanager
def usage_locked(database_url: str) -> Iterator[None]:
    """Another connection holds a lock that blocks every insert into ``usage``."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN EXCLUSIVE")
            else:
                connection.begin()
                connection.exec_driver_sql("LOCK TABLE usage IN ACCESS EXCLUSIVE MODE")
            yield
            connection.rollback()
    finally:
        engine.dispose()


def test_record_durably_waits_at_most_its_bound_then_journals(gateway_db: sa.Engine,
                                                              database_url: str,
                                                              tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    with Ledger(gateway_db, journal, durable_timeout=1.0) as ledger:
        with usage_locked(database_url):
            # returns while the database still blocks the insert (the bound is 1 s; a
            # minute is slack, far below the database's own timeouts)
            asyncio.run(asyncio.wait_for(ledger.record_durably(usage_row("req-1")), 60))
            assert "req-1" in {row.request_id for row in read_rows(journal.path)}
        wait_until(lambda: not journal.has_rows(), "the journal replayed")
        asyncio.run(ledger.record_durably(usage_row("req-2")))
    assert request_ids(gateway_db) == ["req-1", "req-2"]
