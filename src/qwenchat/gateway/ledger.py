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
import dataclasses
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, insert
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
        row = dataclasses.asdict(self)
        row["day"] = self.created_at.astimezone(timezone.utc).strftime("%Y-%m-%d")
        return row


_Pending = tuple[UsageRow, "Future[None]"]


class Ledger:
    """Writes usage rows on its own thread, committing whatever is waiting in one go."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="qwenchat-ledger", daemon=True)
        self._closing = False
        self.num_commits = 0
        self._thread.start()

    def record(self, row: UsageRow) -> Future[None]:
        """Queue ``row``; the future resolves when it is committed (fails once closed)."""
        done: Future[None] = Future()
        if self._closing:
            done.set_exception(RuntimeError("The usage ledger is closed."))
        else:
            self._queue.put((row, done))
        return done

    async def record_durably(self, row: UsageRow) -> None:
        """Queue ``row`` and wait until it is committed."""
        await asyncio.wrap_future(self.record(row))

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
                return

    def _commit(self, batch: list[_Pending]) -> None:
        rows = [row.to_row() for row, _ in batch]
        for attempt, pause in enumerate((*_RETRY_SECONDS, None)):
            try:
                with self._engine.begin() as connection:
                    connection.execute(insert(usage), rows)
            except Exception as exc:  # the writer must outlive any one batch
                if pause is None or self._closing or not isinstance(exc, SQLAlchemyError):
                    _log.error("usage ledger: %d rows not recorded: %s", len(rows), exc)
                    for _, done in batch:
                        done.set_exception(exc)
                    return
                _log.warning("usage ledger: commit failed (attempt %d): %s", attempt + 1, exc)
                time.sleep(pause)
            else:
                self.num_commits += 1
                for _, done in batch:
                    done.set_result(None)
                return
