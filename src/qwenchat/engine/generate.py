"""The decode loop of one job on one context: prefill once, then sample each choice.

The prompt minus its last token is prefilled once; each choice then drops whatever the
previous choice generated, decodes the last prompt token and samples from there. So every
choice starts from identical state, and choice ``i`` with seed ``s + i`` is exactly what a
single-choice request with that seed produces.
"""

from __future__ import annotations

import time

from qwenchat.engine.job import EndReason, GenerationJob, GenerationStats
from qwenchat.engine.llama import LlamaContext, LlamaModel
from qwenchat.engine.sampling import Sampler, pick_seed, token_logprob


def run_job(model: LlamaModel, context: LlamaContext, job: GenerationJob) -> None:
    """Generate every choice of ``job``, reporting through its sink."""
    started = time.perf_counter()
    prompt = job.prompt
    context.clear()
    context.decode(prompt[:-1], 0, want_last_logits=False)
    prefill_seconds = time.perf_counter() - started
    completion_tokens = 0
    decode_started = time.perf_counter()
    num_run = 0
    while num_run < job.n and not job.cancelled.is_set():
        context.truncate(len(prompt) - 1)
        completion_tokens += _run_choice(model, context, job, num_run)
        num_run += 1
    if job.abort_error is not None:  # no normal ending: the sink reports the error
        job.sink.on_error(job.abort_error)
        return
    for choice in range(num_run, job.n):
        job.sink.on_choice_end(choice, EndReason.CANCELLED)
    job.sink.on_job_end(GenerationStats(
        prompt_tokens=len(prompt),
        cached_tokens=0,
        completion_tokens=completion_tokens,
        queue_seconds=started - job.submitted_at,
        prefill_seconds=prefill_seconds,
        decode_seconds=time.perf_counter() - decode_started,
    ))


def _run_choice(model: LlamaModel, context: LlamaContext, job: GenerationJob,
                choice: int) -> int:
    """Sample one choice to its end; returns how many tokens it generated."""
    sampler = Sampler(model, job.sampling, seed=pick_seed(job.sampling, choice),
                      grammar=job.grammar)
    position = len(job.prompt) - 1
    pending = job.prompt[-1]
    generated = 0
    try:
        while True:
            if job.cancelled.is_set():
                reason = EndReason.CANCELLED
                break
            if position >= context.n_ctx:
                reason = EndReason.LENGTH
                break
            context.decode([pending], position, want_last_logits=True)
            position += 1
            token = sampler.sample(context)
            if model.is_end_of_generation(token):
                reason = EndReason.END_OF_GENERATION
                break
            generated += 1
            logprob = None
            if job.sampling.logprobs:
                logprob = token_logprob(context.logits(), token, job.sampling.top_logprobs,
                                        model.token_bytes)
            if not job.sink.on_token(choice, token, model.token_bytes(token), logprob):
                reason = EndReason.SINK_STOPPED
                break
            if generated >= job.max_tokens:
                reason = EndReason.LENGTH
                break
            pending = token
    finally:
        sampler.close()
    if job.abort_error is None:
        job.sink.on_choice_end(choice, reason)
    return generated
