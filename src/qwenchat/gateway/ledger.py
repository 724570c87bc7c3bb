"""The usage ledger: one row per chat request, written with group commit, never lost.

:meth:`Ledger.record` hands a row to a writer thread and returns a future that resolves
once the row is safe. The writer takes every row waiting at that moment and commits them
in one transaction, so under load many requests share one commit (group commit) and a
lone request waits for one small transaction. The api layer awaits
:meth:`Ledger.record_durably` before it sends a response's final frame: a response the
client saw complete has its row on disk, even if the server is killed right after.
Rows of refused requests are recorded without waiting; unauthenticated refusals are only
counted (:mod:`qwenchat.gateway.refusals`), written every few seconds.

A row is safe once it is committed to the database or written to the local
:class:`~qwenchat.gateway.journal.Journal` (fsynced). The journal takes:

* every row of a commit that fails (database stopped, unreachable, refusing);
* a completed request's row that is not committed within ``durable_timeout`` seconds
  (:data:`DURABLE_TIMEOUT`, a database that accepts bytes and never answers): the response
  goes ahead, and the stuck commit is aborted (:func:`~qwenchat.gateway.database.abort`).

The writer replays the journal whenever it holds rows (at start-up too), pausing between
failed attempts, and commits only rows whose ``request_id`` the table does not have yet,
so a row journalled and also committed late is stored once (a unique index on
``request_id`` settles the race of a late commit landing during a replay: a plain commit
that collides fails and goes to the journal, whose replay skips what is there).

A ledger without a journal (a tool that only writes a few rows) fails the futures of rows
it could not commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from qwenchat.gateway.database import abort, connect
from qwenchat.gateway.journal import Journal
from qwenchat.gateway.refusals import RefusalCounts, refusal_rows
from qwenchat.gateway.tables import refusals, usage
from qwenchat.gateway.usage_row import UsageRow

__all__ = ["DURABLE_TIMEOUT", "Ledger", "UsageRow"]

_log = logging.getLogger("qwenchat.gateway")

DURABLE_TIMEOUT = 2.0
_MAX_BATCH = 1000
_REPLAY_CHUNK = 500
_TICK_SECONDS = 0.5  # how often an idle writer looks at the journal
_REPLAY_PAUSES = (1.0, 2.0, 5.0)  # between failed replays, then the last one again
_REFUSALS_SECONDS = 5.0  # how often refusal counts are written

Notify = Callable[[BaseException | None], object]
"""Told, on the writer thread, that a row is safe (None) or why it is not."""

T = TypeVar("T")


class Ledger:
    """Writes usage rows on its own thread, committing whatever is waiting in one go."""

    def __init__(self, engine: Engine, journal: Journal | None = None, *,
                 durable_timeout: float = DURABLE_TIMEOUT) -> None:
        # The writer's own engine without a pool: a reconnection is a fresh connection,
        # bounded by the connect timeout, never a pre-ping on a connection left hanging.
        self._engine = connect(engine.url.render_as_string(hide_password=False),
                               pooled=False)
        self.journal = journal
        self.durable_timeout = durable_timeout
        self._queue: queue.SimpleQueue[tuple[UsageRow, Notify] | None] = queue.SimpleQueue()
        self._connection: Connection | None = None  # the writer thread's own
        self._busy_since: float | None = None  # when the statement running now began
        self._num_failed_replays = 0
        self._next_replay = 0.0
        self._refusals = RefusalCounts()
        self._next_refusals = time.monotonic() + _REFUSALS_SECONDS
        self._closing = False
        self.num_commits = 0
        self._thread = threading.Thread(target=self._run, name="qwenchat-ledger", daemon=True)
        self._thread.start()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def record(self, row: UsageRow) -> Future[None]:
        """Queue ``row``; the future resolves when it is safe (fails once closed)."""
        done: Future[None] = Future()

        def notify(error: BaseException | None) -> None:
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        self._submit(row, notify)
        return done

    async def record_durably(self, row: UsageRow) -> None:
        """Queue ``row`` and wait until it is safe, at most ``durable_timeout`` seconds
        (then the row is journalled here and the caller goes on)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if done.done():  # the request was cancelled, or stopped waiting
                return
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        def notify(error: BaseException | None) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(settle, error)

        self._submit(row, notify)
        if self.journal is None:
            await done
            return
        try:
            await asyncio.wait_for(done, self.durable_timeout)
        except (TimeoutError, RuntimeError, OSError) as exc:
            _log.warning("usage ledger: row %s not committed in time (%s); journalling it",
                         row.request_id, str(exc) or "timeout")
            self.abort_stuck_commit()
            # here, not on a worker thread: those may all be waiting on the database
            self.journal.append([row])

    def abort_stuck_commit(self) -> None:
        """Cut the writer's connection if its statement has run past ``durable_timeout``."""
        since, connection = self._busy_since, self._connection
        if since is None or connection is None:
            return
        if time.monotonic() - since > self.durable_timeout:
            with contextlib.suppress(SQLAlchemyError):
                abort(connection.connection.dbapi_connection)

    def count_refusal(self, row: UsageRow, model: str) -> None:
        """Count ``row`` (a request refused before a key was known) instead of storing it;
        ``model`` is the served id it asked for, or ""."""
        self._refusals.add(row.created_at, row.status, row.error_code or "", model)

    def _submit(self, row: UsageRow, notify: Notify) -> None:
        if self._closing:
            notify(RuntimeError("The usage ledger is closed."))
        else:
            self._queue.put((row, notify))

    def close(self, timeout: float = 30.0) -> None:
        """Commit (or journal) what is queued, then stop the writer."""
        self._closing = True
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():  # stuck on a database that does not answer
            self._busy_since = 0.0
            self.abort_stuck_commit()
            self._thread.join(timeout)
        self._engine.dispose()

    def _run(self) -> None:
        while True:
            batch, stop = self._next_batch()
            if batch:
                self._commit(batch)
            if self.journal is not None and (stop or time.monotonic() >= self._next_replay) \
                    and self.journal.has_rows():
                self._replay()
            if stop or time.monotonic() >= self._next_refusals:
                self._write_refusals()
            if stop:
                self._disconnect()
                return

    def _next_batch(self) -> tuple[list[tuple[UsageRow, Notify]], bool]:
        """The rows waiting now (after at most a tick), and whether to stop after them."""
        try:
            first = self._queue.get(timeout=_TICK_SECONDS)
        except queue.Empty:
            return [], False
        batch = [] if first is None else [first]
        stop = first is None
        while len(batch) < _MAX_BATCH and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                stop = True
            else:
                batch.append(item)
        return batch, stop

    def _commit(self, batch: list[tuple[UsageRow, Notify]]) -> None:
        rows = [row.to_row() for row, _ in batch]
        try:
            self._timed(self._insert, rows)
        except Exception as exc:  # the writer must outlive any one batch
            self._disconnect()
            _log.warning("usage ledger: commit of %d rows failed: %s", len(rows), exc)
            self._journal(batch, exc)
        else:
            self.num_commits += 1
            _tell(batch, None)

    def _journal(self, batch: list[tuple[UsageRow, Notify]], error: Exception) -> None:
        try:
            if self.journal is None:
                raise error
            self.journal.append([row for row, _ in batch])
        except Exception as exc:
            _log.error("usage ledger: %d rows not recorded: %s", len(batch), exc)
            _tell(batch, exc)
            return
        self._next_replay = time.monotonic() + _REPLAY_PAUSES[0]
        _tell(batch, None)

    def _replay(self) -> None:
        """Commit the journal's rows the table lacks, then drop the journal."""
        assert self.journal is not None
        try:
            rows = self.journal.take()
            num_inserted = self._timed(self._insert_missing, rows)
            self.journal.release()
        except Exception as exc:  # the writer must outlive any replay; the rows stay
            self._disconnect()
            pause = _REPLAY_PAUSES[min(self._num_failed_replays, len(_REPLAY_PAUSES) - 1)]
            self._num_failed_replays += 1
            self._next_replay = time.monotonic() + pause
            _log.warning("usage ledger: journal replay failed (next in %.0f s): %s",
                         pause, exc)
            return
        self._num_failed_replays = 0
        _log.warning("usage ledger: journal replayed, %d of %d rows were missing",
                     num_inserted, len(rows))

    def _write_refusals(self) -> None:
        self._next_refusals = time.monotonic() + _REFUSALS_SECONDS
        counts = self._refusals.take()
        if not counts:
            return
        try:
            self._timed(self._insert_refusals, refusal_rows(counts))
        except Exception as exc:  # the writer must outlive any one batch
            self._disconnect()
            self._refusals.put_back(counts)
            _log.warning("usage ledger: refusal counts not written yet: %s", exc)

    def _insert_refusals(self, rows: list[dict[str, object]]) -> None:
        connection = self._connect()
        with connection.begin():
            connection.execute(insert(refusals), rows)

    def _timed(self, work: Callable[[T], Any], rows: T) -> Any:
        """Run ``work`` with the start time visible to :meth:`abort_stuck_commit`."""
        self._busy_since = time.monotonic()
        try:
            return work(rows)
        finally:
            self._busy_since = None

    def _insert(self, rows: list[dict[str, object]]) -> None:
        """One transaction on the writer's own connection, kept open between batches: no
        connection set-up per commit."""
        connection = self._connect()
        with connection.begin():
            connection.execute(_INSERT, rows)

    def _insert_missing(self, rows: Sequence[UsageRow]) -> int:
        """Insert the rows whose request id the table does not have; how many were new."""
        first: dict[str, UsageRow] = {}
        for row in rows:
            first.setdefault(row.request_id, row)
        unique = list(first.values())
        connection, num_inserted = self._connect(), 0
        for start in range(0, len(unique), _REPLAY_CHUNK):
            chunk = unique[start:start + _REPLAY_CHUNK]
            with connection.begin():
                ids = [row.request_id for row in chunk]
                present = set(connection.execute(
                    select(usage.c.request_id).where(usage.c.request_id.in_(ids))).scalars())
                missing = [row.to_row() for row in chunk if row.request_id not in present]
                if missing:  # a late commit may land meanwhile: the unique index decides
                    connection.execute(_insert_new(connection.dialect.name), missing)
            num_inserted += len(missing)
        return num_inserted

    def _connect(self) -> Connection:
        if self._connection is None:
            self._connection = self._engine.connect()
        return self._connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()
            self._connection = None


def _tell(batch: list[tuple[UsageRow, Notify]], error: BaseException | None) -> None:
    """Tell each waiting caller; one that cannot be told (gone) does not stop the rest."""
    for _, notify in batch:
        try:
            notify(error)
        except Exception as exc:  # e.g. a future cancelled meanwhile
            _log.debug("usage ledger: a caller could not be told: %s", exc)


_INSERT = insert(usage)


def _insert_new(dialect: str) -> Any:
    """An insert that skips rows whose request id is already in the table."""
    if dialect == "postgresql":
        return postgresql.insert(usage).on_conflict_do_nothing(index_elements=["request_id"])
    if dialect == "sqlite":
        return sqlite.insert(usage).on_conflict_do_nothing(index_elements=["request_id"])
    return _INSERT
