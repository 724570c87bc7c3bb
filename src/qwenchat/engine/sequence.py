"""A job inside the engine: each choice's sampling state, and the totals of the whole job.

A :class:`ChoiceRun` is one choice of a :class:`~qwenchat.engine.job.GenerationJob` while it
generates: its scheduler entry, its sampler (seed ``s + i`` for choice ``i``, so choice ``i``
is exactly what a one-choice request with that seed produces), and its token counts. After
each decode that gave it logits, :meth:`ChoiceRun.advance` picks the next token — sampled, or
injected when the thinking budget is spent — reports it through the job's sink and says
whether the choice goes on. A pick whose grammar mask takes long waits beside the engine
(:meth:`ChoiceRun.resume` finishes it), so one costly grammar slows only its own choice.

Reasoning tokens count against the thinking budget: once it is spent the job's
``end_reasoning`` tokens are injected (decoded as if sampled) so the reasoning closes
gracefully and the answer still gets all of its ``max_tokens``; ``max_completion_tokens``
counts both, and ends the choice wherever it is reached. The grammar, if any, is
switched on at the first answer token (or at the first token, when it covers the reasoning
too).

A :class:`JobRun` collects its choices' counts and timings and reports the job's end once
every choice has ended.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from qwenchat.engine.job import EndReason, GenerationJob, GenerationStats
from qwenchat.engine.llama import LlamaContext, LlamaModel
from qwenchat.engine.sampling import MaskPool, MaskWait, Sampler, pick_seed, token_logprob
from qwenchat.engine.scheduler import Seq


@dataclass(eq=False)
class JobRun:
    """One job's choices and what they have produced so far."""

    job: GenerationJob
    choices: list[ChoiceRun] = field(default_factory=list)
    admitted_at: float | None = None
    first_token_at: float | None = None

    @classmethod
    def start(cls, job: GenerationJob) -> JobRun:
        """The job's run with one scheduler entry per choice (siblings follow choice 0)."""
        run = cls(job)
        leader: Seq | None = None
        for choice in range(job.n):
            seq = Seq(prompt=job.prompt, leader=leader)
            leader = leader or seq
            run.choices.append(ChoiceRun(run, choice, seq))
        return run

    @property
    def is_done(self) -> bool:
        return all(choice.ended for choice in self.choices)

    def stats(self) -> GenerationStats:
        """Totals and timings, for usage and the log line (call when the job is done)."""
        now = time.perf_counter()
        admitted = self.admitted_at if self.admitted_at is not None else now
        first = self.first_token_at if self.first_token_at is not None else now
        reasoning = sum(choice.reasoning for choice in self.choices)
        answer = sum(choice.answer for choice in self.choices)
        return GenerationStats(
            prompt_tokens=len(self.job.prompt),
            cached_tokens=self.choices[0].seq.cached,
            completion_tokens=reasoning + answer,
            reasoning_tokens=reasoning,
            queue_seconds=admitted - self.job.submitted_at,
            prefill_seconds=first - admitted,
            decode_seconds=now - first,
        )


@dataclass(eq=False)
class ChoiceRun:
    """Choice ``index`` of a job: scheduler entry, sampler and counts."""

    run: JobRun
    index: int
    seq: Seq
    sampler: Sampler | None = None
    reasoning: int = 0
    answer: int = 0
    forced: list[int] = field(default_factory=list)  # injected tokens still to emit
    ended: EndReason | None = None
    waiting: MaskWait | None = None  # a pick waiting for its grammar's mask
    _was_reasoning: bool = False  # whether the token being picked belongs to the reasoning

    def begin(self, model: LlamaModel) -> None:
        """The choice got a slot: make its sampler."""
        job = self.run.job
        self.sampler = Sampler(model, job.sampling, seed=pick_seed(job.sampling, self.index),
                               constraint=job.constraint)
        if self.run.admitted_at is None:
            self.run.admitted_at = time.perf_counter()

    def advance(self, model: LlamaModel, context: LlamaContext, index: int, *,
                masks: MaskPool | None = None) -> int | MaskWait | None:
        """Pick and report the token after batch row ``index``; None when the choice ends
        (then :attr:`ended` says why). A :class:`MaskWait` when the pick waits for its
        grammar's mask: call :meth:`resume` once it is ready."""
        job, sink, sampler = self.run.job, self.run.job.sink, self.sampler
        assert sampler is not None  # made by begin()
        if self.run.first_token_at is None:
            self.run.first_token_at = time.perf_counter()
        self._was_reasoning = sink.is_reasoning(self.index)
        if not self._was_reasoning or job.grammar_covers_reasoning:
            sampler.activate_grammar()
        if self.forced:
            token = self.forced.pop(0)
            sampler.accept(token)
        else:
            picked = sampler.sample(context, index, masks=masks)
            if isinstance(picked, MaskWait):
                self.waiting = picked
                return picked
            token = picked
        logits = context.logits(index) if job.sampling.logprobs else None
        return self._report(model, token, logits)

    def resume(self, model: LlamaModel) -> int | None:
        """:meth:`advance`'s pick, finished now that its grammar's mask is ready."""
        wait, self.waiting = self.waiting, None
        assert wait is not None and self.sampler is not None
        return self._report(model, self.sampler.finish(wait), wait.logits)

    def _report(self, model: LlamaModel, token: int,
                logits: npt.NDArray[np.float32] | None) -> int | None:
        job, sink = self.run.job, self.run.job.sink
        if model.is_end_of_generation(token):
            self.end(EndReason.END_OF_GENERATION)
            return None
        logprob = None
        if logits is not None and job.sampling.logprobs and not self._was_reasoning:
            logprob = token_logprob(logits, token, job.sampling.top_logprobs, model.token_bytes)
        if not sink.on_token(self.index, token, model.token_bytes(token), logprob):
            self.end(EndReason.SINK_STOPPED)
            return None
        if self._was_reasoning or sink.is_reasoning(self.index):
            self.reasoning += 1
            if self._budget_spent() and sink.is_reasoning(self.index) and not self.forced:
                self.forced = list(job.end_reasoning)
        else:
            self.answer += 1
        total = job.max_completion_tokens
        if self.answer >= job.max_tokens or (
                total is not None and self.reasoning + self.answer >= total):
            self.end(EndReason.LENGTH)
            return None
        return token

    def close(self) -> None:
        """Free the sampler (engine thread)."""
        if self.sampler is not None:
            self.sampler.close()
            self.sampler = None

    def end(self, reason: EndReason) -> None:
        """End the choice and tell the sink (once; an aborted job reports its error instead)."""
        if self.ended is None:
            self.ended = reason
            job = self.run.job
            if job.abort_error is None:
                job.sink.on_choice_end(self.index, reason)

    def _budget_spent(self) -> bool:
        budget = self.run.job.thinking_budget
        return budget is not None and self.reasoning >= budget
