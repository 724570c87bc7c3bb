"""The decode loop of one job on one context: prefill once, then sample each choice.

The prompt minus its last token is prefilled once; each choice then drops whatever the
previous choice generated, decodes the last prompt token and samples from there. So every
choice starts from identical state, and choice ``i`` with seed ``s + i`` is exactly what a
single-choice request with that seed produces.

Per token, the sink says whether the model is reasoning. Reasoning tokens count against the
thinking budget: once it is spent the job's ``end_reasoning`` tokens are injected (decoded
as if sampled) so the reasoning closes gracefully and the answer still gets all of its
``max_tokens``. The grammar, if any, is switched on at the first answer token (or at the
first token, when it covers the reasoning too).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from qwenchat.engine.job import EndReason, GenerationJob, GenerationStats
from qwenchat.engine.llama import LlamaContext, LlamaModel
from qwenchat.engine.sampling import Sampler, pick_seed, token_logprob


@dataclass
class _Counts:
    """Tokens one choice has produced so far, by kind."""

    reasoning: int = 0
    answer: int = 0
    forced: list[int] = field(default_factory=list)  # injected tokens still to emit

    @property
    def total(self) -> int:
        return self.reasoning + self.answer


def run_job(model: LlamaModel, context: LlamaContext, job: GenerationJob) -> None:
    """Generate every choice of ``job``, reporting through its sink."""
    started = time.perf_counter()
    prompt = job.prompt
    context.clear()
    context.decode(prompt[:-1], 0, want_last_logits=False)
    prefill_seconds = time.perf_counter() - started
    decode_started = time.perf_counter()
    totals = _Counts()
    num_done = 0
    while num_done < job.n and not job.cancelled.is_set():
        context.truncate(len(prompt) - 1)
        counts = _run_choice(model, context, job, choice=num_done)
        totals.reasoning += counts.reasoning
        totals.answer += counts.answer
        num_done += 1
    if job.abort_error is not None:  # no normal ending: the sink reports the error
        job.sink.on_error(job.abort_error)
        return
    for choice in range(num_done, job.n):
        job.sink.on_choice_end(choice, EndReason.CANCELLED)
    job.sink.on_job_end(GenerationStats(
        prompt_tokens=len(prompt),
        cached_tokens=0,
        completion_tokens=totals.total,
        reasoning_tokens=totals.reasoning,
        queue_seconds=started - job.submitted_at,
        prefill_seconds=prefill_seconds,
        decode_seconds=time.perf_counter() - decode_started,
    ))


def _run_choice(model: LlamaModel, context: LlamaContext, job: GenerationJob,
                choice: int) -> _Counts:
    """Sample one choice to its end; returns what it generated."""
    sampler = Sampler(model, job.sampling, seed=pick_seed(job.sampling, choice),
                      grammar=job.grammar)
    counts = _Counts()
    try:
        reason = _decode_loop(model, context, job, choice, sampler, counts)
    finally:
        sampler.close()
    if job.abort_error is None:
        job.sink.on_choice_end(choice, reason)
    return counts


def _decode_loop(model: LlamaModel, context: LlamaContext, job: GenerationJob, choice: int,
                 sampler: Sampler, counts: _Counts) -> EndReason:
    position, pending = len(job.prompt) - 1, job.prompt[-1]
    sink = job.sink
    while True:
        if job.cancelled.is_set():
            return EndReason.CANCELLED
        if position >= context.n_ctx:
            return EndReason.LENGTH
        context.decode([pending], position, want_last_logits=True)
        position += 1
        was_reasoning = sink.is_reasoning(choice)
        if not was_reasoning or job.grammar_covers_reasoning:
            sampler.activate_grammar()
        token = _next_token(sampler, context, counts)
        if model.is_end_of_generation(token):
            return EndReason.END_OF_GENERATION
        logprob = None
        if job.sampling.logprobs and not was_reasoning:
            logprob = token_logprob(context.logits(), token, job.sampling.top_logprobs,
                                    model.token_bytes)
        if not sink.on_token(choice, token, model.token_bytes(token), logprob):
            return EndReason.SINK_STOPPED
        if was_reasoning or sink.is_reasoning(choice):
            counts.reasoning += 1
            if _budget_spent(job, counts) and sink.is_reasoning(choice) and not counts.forced:
                counts.forced = list(job.end_reasoning)
        else:
            counts.answer += 1
            if counts.answer >= job.max_tokens:
                return EndReason.LENGTH
        pending = token


def _next_token(sampler: Sampler, context: LlamaContext, counts: _Counts) -> int:
    """An injected token if any is due, else a sampled one."""
    if counts.forced:
        token = counts.forced.pop(0)
        sampler.accept(token)
        return token
    return sampler.sample(context)


def _budget_spent(job: GenerationJob, counts: _Counts) -> bool:
    return job.thinking_budget is not None and counts.reasoning >= job.thinking_budget
