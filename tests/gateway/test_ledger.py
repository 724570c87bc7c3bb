"""The usage ledger: rows committed by a writer thread, many per commit, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from qwenchat.gateway.database import connect, migrate
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


def wait_for_log(caplog: pytest.LogCaptureFixture, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in record.getMessage() for record in caplog.records):
        assert time.monotonic() < deadline, f"no log line with {text!r}"
        time.sleep(0.01)


def test_a_failed_commit_is_retried(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="qwenchat.gateway")
    engine = connect(database_url)  # no tables yet: inserts fail
    ledger = Ledger(engine)
    try:
        future = ledger.record(usage_row("req-1"))
        wait_for_log(caplog, "commit failed (attempt 1)")
        migrate(engine)
        future.result(timeout=30)
        assert request_ids(engine) == ["req-1"]
    finally:
        ledger.close()
        engine.dispose()


def test_rows_are_dropped_only_when_closing_with_the_database_still_failing(
        database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="qwenchat.gateway")
    engine = connect(database_url)  # no tables: every insert fails
    ledger = Ledger(engine)
    try:
        future = ledger.record(usage_row("req-1"))
        ledger.close()
        assert isinstance(future.exception(timeout=30), SQLAlchemyError)
        assert any("1 rows not recorded" in record.getMessage() for record in caplog.records)
    finally:
        engine.dispose()
