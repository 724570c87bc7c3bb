"""The engine thread: continuous batching of every job over one llama.cpp context.

The event loop never waits on llama.cpp: it puts jobs in a thread-safe inbox and receives
results through each job's sink. The thread runs steps — take new jobs; end the cancelled,
the aborted and those past their deadline; ask the :class:`Scheduler` for a step; carry out
its cache operations and its decodes; sample every sequence that got logits — until no job
is left, then sleeps on the inbox. Every llama.cpp decode of the process happens on this
thread: llama.cpp's OpenMP thread team belongs to the first thread that decodes, and a
decode anywhere else left a second team competing for the cores (decode speed halved).

A grammar mask that takes long is computed on a thread of its own (:class:`MaskPool`): the
step goes on without that choice, which sits out the decodes until its pick is finished
(:meth:`ChoiceRun.resume`), so one costly grammar slows only its own request.

The wait queue is bounded: :meth:`EngineWorker.submit` raises ``ServerOverloaded`` (503 with
a Retry-After) while ``max_queue`` jobs are waiting for a slot.

The thread notes when each step begins, so a watchdog on another thread can see it stall
(:meth:`EngineWorker.stalled_for`) or die (:attr:`EngineWorker.is_alive`), and
:meth:`EngineWorker.break_down` then fails every job from outside the stuck thread.
"""

from __future__ import annotations

import ctypes
import logging
import math
import queue
import threading
import time

from qwenchat.engine.job import EndReason, GenerationJob
from qwenchat.engine.llama import BatchRow, LlamaContext, LlamaModel
from qwenchat.engine.metrics import EngineMetrics, MetricCounters
from qwenchat.engine.sampling import MaskPool, MaskWait
from qwenchat.engine.scheduler import Scheduler, SchedulerConfig, Seq, Step
from qwenchat.engine.sequence import ChoiceRun, JobRun
from qwenchat.errors import ModelUnavailable, QwenchatError, RequestError, ServerOverloaded

_log = logging.getLogger("qwenchat.engine")
_STOP = None


class _Wake:
    """Put in the inbox when a grammar mask is ready, to wake an engine waiting for it."""


_WAKE = _Wake()
_MASK_POLL = 0.5  # seconds between looks at cancellations while every choice waits on masks
_SHUTTING_DOWN = "The server is shutting down; please retry on another replica or later."


class EngineWorker:
    """A daemon thread that batches every submitted job into one llama.cpp context."""

    def __init__(self, model: LlamaModel, context: LlamaContext, *, max_queue: int,
                 scheduler: SchedulerConfig, fault: str = "") -> None:
        self._model = model
        self._context = context
        self._max_queue = max_queue
        self._scheduler = Scheduler(scheduler)
        self._inbox: queue.SimpleQueue[GenerationJob | _Wake | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._num_waiting = 0  # submitted jobs without a slot yet (guarded by _lock)
        self._is_stopping = False
        self._runs: list[JobRun] = []  # jobs inside the engine, waiting or generating
        self._choices: dict[Seq, ChoiceRun] = {}
        self._masks = MaskPool()
        self._waiting_on_masks: list[ChoiceRun] = []  # picks that wait for a grammar mask
        self._only_masks_left = False  # the last step had nothing to do but wait for masks
        self._saved: dict[int, ctypes.Array[ctypes.c_uint8]] = {}  # host cache, by entry id
        self._counters = MetricCounters()
        self._step_began: float | None = None  # when the running step began; None: idle
        self._fault = fault
        self._thread = threading.Thread(target=self._loop, name="qwenchat-engine", daemon=True)
        self._thread.start()

    @property
    def num_waiting(self) -> int:
        return self._num_waiting

    @property
    def num_running(self) -> int:
        return sum(run.admitted_at is not None for run in list(self._runs))

    def metrics(self) -> EngineMetrics:
        """A snapshot of load and totals (any thread)."""
        slots = self._scheduler.slots
        return self._counters.snapshot(
            slots=len(slots), slots_busy=sum(slot.seq is not None for slot in slots),
            running=self.num_running, waiting=self.num_waiting,
        )

    @property
    def is_alive(self) -> bool:
        """False once the engine thread has ended, whether stopped or died."""
        return self._thread.is_alive()

    def stalled_for(self, now: float) -> float:
        """Seconds the running step has taken so far (0 while idle)."""
        began = self._step_began
        return 0.0 if began is None else max(0.0, now - began)

    def break_down(self, error: QwenchatError) -> None:
        """The thread is stuck or dead: refuse new jobs and fail every job with ``error``
        from the calling thread (the engine thread will never report them)."""
        with self._lock:
            self._is_stopping = True
        for run in list(self._runs):
            run.job.abort(error)
            run.job.sink.on_error(error)
        self._refuse_inbox(error)
        self._masks.close(wait=False)  # a replacement worker brings its own

    def submit(self, job: GenerationJob) -> None:
        """Queue ``job``; raises when the queue is full or the worker is stopping."""
        with self._lock:
            if self._is_stopping:
                raise ModelUnavailable()
            if self._num_waiting >= self._max_queue:
                raise ServerOverloaded(retry_after=self._retry_after())
            self._num_waiting += 1
            self._inbox.put(job)

    def abort_all(self) -> None:
        """Refuse new jobs and end the running and queued ones with ``ModelUnavailable``.

        Does not block, so a signal handler may call it: the streams of running requests
        end at the next step, and the server can then close their connections.
        """
        with self._lock:
            self._is_stopping = True
        for run in list(self._runs):
            run.job.abort(ModelUnavailable(_SHUTTING_DOWN))
        # queued jobs not yet taken are refused by the engine thread as it takes them

    def stop(self, timeout: float = 10.0) -> None:
        """Abort every job and end the thread."""
        self.abort_all()
        self._inbox.put(_STOP)
        self._thread.join(timeout)
        self._masks.close()

    # -- the engine thread ---------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            waits = self._only_masks_left
            if not self._take_jobs(block=self._scheduler.is_idle or waits,
                                   timeout=_MASK_POLL if waits else None):
                break
            self._step_began = time.perf_counter()
            try:
                self._end_stopped_jobs()
                if not self._scheduler.is_idle:
                    self._inject_fault()
                    self._step()
                self._report_done_jobs()
            except Exception as exc:  # reported to every job; keep serving
                _log.exception("engine step failed")
                self._fail_everything(exc)
            self._step_began = None
        for run in list(self._runs):
            run.job.abort(ModelUnavailable(_SHUTTING_DOWN))
        self._end_stopped_jobs()
        self._report_done_jobs()
        self._refuse_inbox()

    def _take_jobs(self, *, block: bool, timeout: float | None = None) -> bool:
        """Move submitted jobs into the scheduler; False when told to stop."""
        while True:
            try:
                job = self._inbox.get(block=block, timeout=timeout)
            except queue.Empty:
                return True
            block = False
            if job is _STOP:
                return False
            if isinstance(job, _Wake):
                continue
            if self._is_stopping:
                self._unqueue()
                job.sink.on_error(ModelUnavailable(_SHUTTING_DOWN))
                continue
            run = JobRun.start(job)
            self._runs.append(run)
            for choice in run.choices:
                self._choices[choice.seq] = choice
                self._scheduler.add(choice.seq)  # LocalEngine.submit checked the prompt

    def _end_stopped_jobs(self) -> None:
        """End the choices of cancelled and aborted jobs, and of jobs past their deadline."""
        now = time.perf_counter()
        for run in self._runs:
            job = run.job
            deadline = job.deadline
            if not job.cancelled.is_set() and (deadline is None or now < deadline):
                continue
            if job.cancelled.is_set():
                reason = EndReason.CANCELLED
            elif run.admitted_at is None:
                job.abort(ServerOverloaded(retry_after=self._retry_after()))
                reason = EndReason.CANCELLED
            else:
                _log.warning("a request reached its %.0fs deadline: ending it with 'length'",
                             job.timeout)
                reason = EndReason.LENGTH
            for choice in run.choices:
                self._end_choice(choice, reason)

    def _step(self) -> None:
        started = time.perf_counter()
        self._resume_picks()
        step = self._scheduler.schedule()
        self._only_masks_left = bool(self._waiting_on_masks) and not (
            step.num_tokens or step.admissions or step.out_of_space)
        if self._only_masks_left:
            return
        for seq in step.out_of_space:
            _log.warning("slot %d is full (%d tokens): ending its sequence with 'length'",
                         seq.slot.index if seq.slot else -1, seq.position)
            self._end_choice(self._choices[seq], EndReason.LENGTH)
        self._apply_admissions(step)
        try:
            picks, decode_seconds, pick_seconds = self._decode_and_pick(step)
        except QwenchatError as exc:
            self._fail_step(step, exc)
            return
        self._scheduler.commit(step)
        for choice, token in picks:
            if token is None:
                self._end_choice(choice, choice.ended or EndReason.CANCELLED)
            else:
                self._scheduler.sampled(choice.seq, token)
        seconds = time.perf_counter() - started
        self._counters.add_step(tokens=step.num_tokens, seconds=seconds,
                                decode_seconds=decode_seconds, sample_seconds=pick_seconds)

    def _decode_and_pick(
            self, step: Step) -> tuple[list[tuple[ChoiceRun, int | None]], float, float]:
        """Run the step's decodes, picking each sampling sequence's next token right after
        the decode that produced its logits; returns the picks and the seconds spent
        decoding and picking.

        The generated tokens of every sequence go in one batch; each prompt chunk goes in a
        batch of its own. llama.cpp splits a batch into equal per-sequence parts, so a chunk
        sharing a batch with one-token rows would be read partly one row at a time, whose
        numbers differ (prefixes.py): this way a prompt's cache is the same under any load.
        """
        batches = []
        if step.decode:
            batches.append([BatchRow(seq.slot.index, [seq.pending], seq.position, True)
                            for seq in step.decode
                            if seq.slot is not None and seq.pending is not None])
        batches += [[BatchRow(chunk.seq.slot.index,
                              list(chunk.seq.prompt[chunk.start:chunk.end]), chunk.start,
                              chunk.is_last)]
                    for chunk in step.prefill if chunk.seq.slot is not None]
        by_slot = {seq.slot.index: seq for seq in step.sampling if seq.slot is not None}
        picks: list[tuple[ChoiceRun, int | None]] = []
        decode_seconds = pick_seconds = 0.0
        for rows in batches:
            started = time.perf_counter()
            outputs = self._context.decode(rows)
            decoded = time.perf_counter()
            decode_seconds += decoded - started
            for slot, index in outputs.items():
                choice = self._choices[by_slot[slot]]
                picked = self._pick(choice, index)
                if isinstance(picked, MaskWait):
                    self._wait_for_mask(choice, picked)
                else:
                    picks.append((choice, picked))
            pick_seconds += time.perf_counter() - decoded
        return picks, decode_seconds, pick_seconds

    def _apply_admissions(self, step: Step) -> None:
        for admission in step.admissions:
            slot = admission.slot.index
            for entry in admission.evict:
                self._saved.pop(entry.id, None)
            try:
                if admission.save is not None:
                    self._saved[admission.save.id] = self._context.save(slot)
                if admission.copy_from is not None:
                    self._context.copy(admission.copy_from.index, slot)
                elif admission.restore is not None:
                    self._context.restore(slot, self._saved[admission.restore.id])
                self._context.truncate(slot, admission.reuse)
            except (QwenchatError, KeyError) as exc:  # a cache is lost, not the request
                _log.warning("could not load a cached prefix into slot %d (%s): reading "
                             "the whole prompt", slot, exc)
                self._context.truncate(slot, 0)
                self._scheduler.read_whole_prompt(admission.seq)
            choice = self._choices[admission.seq]
            if choice.run.admitted_at is None:
                self._unqueue()
            choice.begin(self._model)

    def _pick(self, choice: ChoiceRun, index: int | None) -> int | MaskWait | None:
        """``choice``'s next token from batch row ``index`` (None: finish the pick that
        waited for its mask); None when the choice ends, a MaskWait while its pick waits."""
        try:
            if index is None:
                return choice.resume(self._model)
            return choice.advance(self._model, self._context, index, masks=self._masks)
        except RequestError as exc:  # the request's own constraint dead-ends: it fails
            _log.info("a request failed while generating: %s", exc.message)
            choice.run.job.abort(exc)
            return None
        except Exception as exc:  # that job fails, the others go on
            _log.exception("sampling failed")
            choice.run.job.abort(exc)
            return None

    def _wait_for_mask(self, choice: ChoiceRun, wait: MaskWait) -> None:
        """``choice`` sits out the decodes until its mask is ready (its token is pending)."""
        self._waiting_on_masks.append(choice)
        wait.mask.add_done_callback(lambda _: self._inbox.put(_WAKE))

    def _resume_picks(self) -> None:
        """Finish the picks whose masks are ready; forget those of choices that ended."""
        for choice in list(self._waiting_on_masks):
            if choice.ended is None and choice.waiting is not None:
                if not choice.waiting.is_ready:
                    continue
                token = self._pick(choice, None)
                if token is None:
                    self._end_choice(choice, choice.ended or EndReason.CANCELLED)
                else:
                    assert not isinstance(token, MaskWait)
                    self._scheduler.sampled(choice.seq, token)
            self._waiting_on_masks.remove(choice)

    def _end_choice(self, choice: ChoiceRun, reason: EndReason) -> None:
        choice.end(reason)
        self._scheduler.finish(choice.seq)

    def _report_done_jobs(self) -> None:
        for run in [run for run in self._runs if run.is_done]:
            self._runs.remove(run)
            for choice in run.choices:
                choice.close()
                del self._choices[choice.seq]
            if run.admitted_at is None:
                self._unqueue()
            job = run.job
            if job.abort_error is not None:
                job.sink.on_error(job.abort_error)
                continue
            stats = run.stats()
            self._counters.add_job(stats)
            job.sink.on_job_end(stats)

    def _fail_step(self, step: Step, error: QwenchatError) -> None:
        """A decode failed: its sequences' caches are unknown, so they end and are cleared."""
        _log.error("decode failed: %s", error)
        seqs = step.decode + [chunk.seq for chunk in step.prefill]
        for seq in seqs:
            if seq.slot is not None:
                self._context.truncate(seq.slot.index, 0)
                self._scheduler.forget(seq.slot)
            choice = self._choices[seq]
            choice.run.job.abort(error)
            self._end_choice(choice, EndReason.CANCELLED)

    def _fail_everything(self, error: Exception) -> None:
        for run in self._runs:
            run.job.abort(error)
            for choice in run.choices:
                self._end_choice(choice, EndReason.CANCELLED)
        for slot in self._scheduler.slots:
            self._context.truncate(slot.index, 0)
            self._scheduler.forget(slot)
        self._report_done_jobs()

    def _unqueue(self) -> None:
        with self._lock:
            self._num_waiting -= 1

    def _refuse_inbox(self, error: QwenchatError | None = None) -> None:
        while True:
            try:
                job = self._inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(job, GenerationJob):
                self._unqueue()
                job.sink.on_error(error or ModelUnavailable(_SHUTTING_DOWN))

    def _inject_fault(self) -> None:
        """Fault injection for the watchdog's tests (``QWENCHAT_FAULT``): the first step
        hangs for good (``engine-hang``) or kills the engine thread (``engine-die``)."""
        fault, self._fault = self._fault, ""
        if fault == "engine-hang":
            _log.warning("fault injection: the engine thread hangs")
            threading.Event().wait()
        elif fault == "engine-die":
            _log.warning("fault injection: the engine thread dies")
            raise SystemExit("engine-die")

    def _retry_after(self) -> float:
        """Seconds until a slot is likely free for a job queued now."""
        per_job = self._counters.typical_job_seconds()
        slots = len(self._scheduler.slots)
        return float(max(1, math.ceil(per_job * (self._num_waiting + 1) / slots)))
