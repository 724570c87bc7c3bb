"""The engine thread: owns the model and context, runs queued jobs one at a time.

The event loop never waits on llama.cpp: it only puts jobs on a thread-safe queue and
receives results through each job's sink. The wait queue is bounded; when it is full,
:meth:`EngineWorker.submit` raises ``ServerOverloaded`` (503 with a Retry-After).
"""

from __future__ import annotations

import logging
import queue
import threading

from qwenchat.engine.generate import run_job
from qwenchat.engine.job import GenerationJob
from qwenchat.engine.llama import LlamaContext, LlamaModel
from qwenchat.errors import ModelUnavailable, ServerOverloaded

_log = logging.getLogger("qwenchat.engine")
_STOP = None
_SHUTTING_DOWN = "The server is shutting down; please retry on another replica or later."


class EngineWorker:
    """A daemon thread draining a bounded job queue into one llama.cpp context."""

    def __init__(self, model: LlamaModel, context: LlamaContext, *, max_queue: int) -> None:
        self._model = model
        self._context = context
        self._max_queue = max_queue
        self._queue: queue.Queue[GenerationJob | None] = queue.Queue()
        self._current: GenerationJob | None = None
        self._lock = threading.Lock()
        self._is_stopping = False
        self._thread = threading.Thread(target=self._loop, name="qwenchat-engine", daemon=True)
        self._thread.start()

    @property
    def num_waiting(self) -> int:
        return self._queue.qsize()

    @property
    def is_busy(self) -> bool:
        return self._current is not None

    def submit(self, job: GenerationJob) -> None:
        """Queue ``job``; raises when the queue is full or the worker is stopping."""
        with self._lock:
            if self._is_stopping:
                raise ModelUnavailable()
            if self._queue.qsize() >= self._max_queue:
                raise ServerOverloaded(retry_after=self._retry_after())
            self._queue.put(job)

    def abort_all(self) -> None:
        """Refuse new jobs and end the running and queued ones with ``ModelUnavailable``.

        Does not block, so a signal handler may call it: the streams of running requests
        end at their next token, and the server can then close their connections.
        """
        with self._lock:
            self._is_stopping = True
        current = self._current
        if current is not None:
            current.abort(ModelUnavailable(_SHUTTING_DOWN))
        self._drain()

    def stop(self, timeout: float = 10.0) -> None:
        """Abort every job and end the thread."""
        self.abort_all()
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                break
            if self._is_stopping:
                job.sink.on_error(ModelUnavailable(_SHUTTING_DOWN))
                continue
            self._current = job
            try:
                run_job(self._model, self._context, job)
            except Exception as exc:  # reported to that request; the engine keeps serving
                _log.exception("generation failed")
                job.sink.on_error(exc)
            finally:
                self._current = None
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                job.sink.on_error(ModelUnavailable(_SHUTTING_DOWN))

    def _retry_after(self) -> float:
        return float(max(1, self._queue.qsize() // 2))
