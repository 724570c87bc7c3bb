"""The usage ledger: one row per chat request, written with group commit.

:meth:`Ledger.record` hands a row to a writer thread and returns a future that resolves
once the row is committed. The writer takes every row waiting at that moment and commits
them in one transaction, so under load many requests share one commit (group commit) and
a lone request waits for one small transaction. The api layer awaits the future before it
sends a response's final frame: a response the client saw complete has its row on disk,
even if the server is killed right after. Rows of refused requests are recorded without
waiting.

A failed commit is retried with backoff; rows are only dropped (and logged) when the
ledger closes while the database is still unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, insert
from sqlalchemy.exc import SQLAlchemyError

from qwenchat.gateway.tables import usage

_log = logging.getLogger("qwenchat.gateway")

_MAX_BATCH = 1000
_RETRY_SECONDS = (0.05, 0.2, 1.0, 5.0)


@dataclass(frozen=True, slots=True)
class UsageRow:
    """What one request used and how it ended."""

    created_at: datetime
    request_id: str
    key_id: str | None
    model: str
    deployment: str
    stream: bool
    status: int
    error_code: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    ttft_ms: float | None = None
    duration_ms: float = 0.0

    def to_row(self) -> dict[str, object]:
        """The row's column values (``dataclasses.asdict`` would deep-copy the datetime)."""
        row: dict[str, object] = {field: getattr(self, field) for field in _FIELDS}
        row["day"] = self.created_at.astimezone(timezone.utc).strftime("%Y-%m-%d")
        return row


_FIELDS = tuple(field.name for field in dataclasses.fields(UsageRow))

Notify = Callable[[BaseException | None], object]
"""Told, on the writer thread, that a row was committed (None) or why it was not."""


class Ledger:
    """Writes usage rows on its own thread, committing whatever is waiting in one go."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[tuple[UsageRow, Notify] | None] = queue.SimpleQueue()
        self._connection: Connection | None = None  # the writer thread's own
        self._thread = threading.Thread(target=self._run, name="qwenchat-ledger", daemon=True)
        self._closing = False
        self.num_commits = 0
        self._thread.start()

    def record(self, row: UsageRow) -> Future[None]:
        """Queue ``row``; the future resolves when it is committed (fails once closed)."""
        done: Future[None] = Future()

        def notify(error: BaseException | None) -> None:
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        self._submit(row, notify)
        return done

    async def record_durably(self, row: UsageRow) -> None:
        """Queue ``row`` and wait until it is committed (an asyncio future: the cheapest
        way back to the event loop)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if done.done():  # the request was cancelled meanwhile
                return
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        self._submit(row, lambda error: loop.call_soon_threadsafe(settle, error))
        await done

    def _submit(self, row: UsageRow, notify: Notify) -> None:
        if self._closing:
            notify(RuntimeError("The usage ledger is closed."))
        else:
            self._queue.put((row, notify))

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the writer."""
        self._closing = True
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [] if first is None else [first]
            stop = first is None
            while len(batch) < _MAX_BATCH and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                else:
                    batch.append(item)
            if batch:
                self._commit(batch)
            if stop:
                self._disconnect()
                return

    def _commit(self, batch: list[tuple[UsageRow, Notify]]) -> None:
        rows = [row.to_row() for row, _ in batch]
        for attempt, pause in enumerate((*_RETRY_SECONDS, None)):
            try:
                self._insert(rows)
            except Exception as exc:  # the writer must outlive any one batch
                self._disconnect()
                if pause is None or self._closing or not isinstance(exc, SQLAlchemyError):
                    _log.error("usage ledger: %d rows not recorded: %s", len(rows), exc)
                    for _, notify in batch:
                        notify(exc)
                    return
                _log.warning("usage ledger: commit failed (attempt %d): %s", attempt + 1, exc)
                time.sleep(pause)
            else:
                self.num_commits += 1
                for _, notify in batch:
                    notify(None)
                return

    def _insert(self, rows: list[dict[str, object]]) -> None:
        """One transaction on the writer's own connection, kept open between batches: no
        pool checkout or pre-ping round trip per commit."""
        if self._connection is None:
            self._connection = self._engine.connect()
        with self._connection.begin():
            self._connection.execute(_INSERT, rows)

    def _disconnect(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()
            self._connection = None


_INSERT = insert(usage)
