"""Continuous batching on the real starter model: outputs unchanged by batching, prefix reuse
(same answer as a cold run), cancellation freeing slots, deadlines, and a sequence that runs
out of context ending alone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.engine.recording import Recorder

from qwenchat.core import SamplingParams
from qwenchat.engine import EndReason, EngineConfig, GenerationJob, LocalEngine, ReuseMode
from qwenchat.errors import ServerOverloaded

NO_EOS = ((2, -100.0),)  # the starter's <|im_end|>
GREEDY = SamplingParams(temperature=0, logit_bias=NO_EOS)
# long enough (~650 tokens) that llama.cpp's attention works over more than 512 cache cells
SYSTEM = ("You are a careful assistant. " + " ".join(
    f"Rule {i}: answer briefly, cite the facts you use, and stay polite." for i in range(45)))


def chat(user: str, *, system: str = "You are a helpful assistant.",
         history: tuple[tuple[str, str], ...] = ()) -> str:
    """A ChatML prompt (the starter's template) ending where the assistant speaks."""
    turns = [f"<|im_start|>system\n{system}<|im_end|>\n"]
    for question, answer in history:
        turns.append(f"<|im_start|>user\n{question}<|im_end|>\n")
        turns.append(f"<|im_start|>assistant\n{answer}<|im_end|>\n")
    turns.append(f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
    return "".join(turns)


PROMPTS = [chat("Write a story about a dragon."),
           chat("List ten fruits and describe each of them in detail, one per line."),
           chat("Why is the sky blue?"),
           chat("Explain, step by step and with many examples, how a bicycle stays upright.")]


def open_engine(model: Path, **options: object) -> LocalEngine:
    """Two threads: llama.cpp then splits work across threads, as it does in production."""
    settings: dict[str, object] = {"context_size": 1024, "threads": 2, **options}
    engine = LocalEngine(EngineConfig(model, **settings))  # type: ignore[arg-type]
    engine.load()
    return engine


@pytest.fixture(scope="module")
def engine(starter_model: Path) -> Iterator[LocalEngine]:
    local = open_engine(starter_model, slots=4)
    try:
        yield local
    finally:
        local.close()


@pytest.fixture(scope="module")
def cold_engine(starter_model: Path) -> Iterator[LocalEngine]:
    """Reads every prompt whole: the reference for what prefix reuse must reproduce."""
    local = open_engine(starter_model, slots=2, prefix_cache=ReuseMode.OFF)
    try:
        yield local
    finally:
        local.close()


def submit(engine: LocalEngine, prompt: str, sampling: SamplingParams = GREEDY, *,
           max_tokens: int = 24, n: int = 1, timeout: float | None = None) -> Recorder:
    recorder = Recorder()
    engine.submit(GenerationJob(engine.tokenize(prompt), sampling, max_tokens, recorder, n=n,
                                timeout=timeout))
    return recorder


def finished(*recorders: Recorder) -> None:
    for recorder in recorders:
        assert recorder.done.wait(120)
        assert recorder.error is None, recorder.error


def test_outputs_are_the_same_alone_and_beside_three_others(
        engine: LocalEngine, cold_engine: LocalEngine) -> None:
    seeded = SamplingParams(temperature=0.9, seed=7, logit_bias=NO_EOS)
    for sampling in (GREEDY, seeded):
        alone = []
        for prompt in PROMPTS:
            recorder = submit(cold_engine, prompt, sampling)
            finished(recorder)
            alone.append(recorder.tokens[0])
        together = [submit(engine, prompt, sampling) for prompt in PROMPTS]
        finished(*together)
        assert [recorder.tokens[0] for recorder in together] == alone


def test_next_turn_reuses_the_cache_and_answers_as_a_cold_run(
        engine: LocalEngine, cold_engine: LocalEngine) -> None:
    first = submit(engine, chat("Name a famous castle.", system=SYSTEM))
    finished(first)
    answer = engine.detokenize(first.tokens[0])
    second_prompt = chat("Tell me more about it.", system=SYSTEM,
                         history=(("Name a famous castle.", answer),))
    warm = submit(engine, second_prompt)
    cold = submit(cold_engine, second_prompt)
    finished(warm, cold)
    assert warm.stats is not None and cold.stats is not None
    assert warm.stats.cached_tokens > len(engine.tokenize(chat("", system=SYSTEM))) // 2
    assert cold.stats.cached_tokens == 0
    assert warm.tokens == cold.tokens


def test_a_shared_system_prompt_is_copied_from_a_busy_slot(
        engine: LocalEngine, cold_engine: LocalEngine) -> None:
    busy = submit(engine, chat("Write a long poem about the sea.", system=SYSTEM),
                  max_tokens=200)
    assert busy.first_token.wait(60)
    prompt = chat("What is two plus two?", system=SYSTEM)
    warm, cold = submit(engine, prompt), submit(cold_engine, prompt)
    finished(warm, cold, busy)
    assert warm.stats is not None and warm.stats.cached_tokens >= len(engine.tokenize(SYSTEM))
    assert warm.tokens == cold.tokens


def test_choices_of_one_request_read_the_prompt_once_and_match_their_seeds(
        engine: LocalEngine) -> None:
    prompt = chat("Describe a sunrise.", system=SYSTEM)  # long enough to copy, not re-read
    sampling = SamplingParams(temperature=1.0, seed=21, logit_bias=NO_EOS)
    trio = submit(engine, prompt, sampling, n=3)
    finished(trio)
    for choice in range(3):
        alone = submit(engine, prompt, SamplingParams(temperature=1.0, seed=21 + choice,
                                                      logit_bias=NO_EOS))
        finished(alone)
        assert alone.tokens[0] == trio.tokens[choice]
    assert trio.stats is not None and trio.stats.completion_tokens == 3 * 24


def test_a_conversation_evicted_from_its_slot_comes_back_from_host_memory(
        starter_model: Path, cold_engine: LocalEngine) -> None:
    engine = open_engine(starter_model, slots=1)
    try:
        first = submit(engine, chat("Name a famous castle.", system=SYSTEM))
        finished(first)
        finished(submit(engine, chat("Count to five.")))  # takes the only slot
        answer = engine.detokenize(first.tokens[0])
        prompt = chat("Tell me more about it.", system=SYSTEM,
                      history=(("Name a famous castle.", answer),))
        warm, cold = submit(engine, prompt), submit(cold_engine, prompt)
        finished(warm, cold)
        assert warm.stats is not None and first.stats is not None
        assert warm.stats.cached_tokens >= first.stats.prompt_tokens - 2
        assert warm.tokens == cold.tokens
    finally:
        engine.close()


def test_a_cancelled_job_frees_its_slot_for_the_next(starter_model: Path) -> None:
    engine = open_engine(starter_model, slots=1, max_queue=4)
    try:
        long_job = Recorder()
        job = GenerationJob(engine.tokenize(PROMPTS[0]), GREEDY, 400, long_job)
        engine.submit(job)
        assert long_job.first_token.wait(30)
        waiting = submit(engine, PROMPTS[2])
        time.sleep(0.2)
        assert waiting.tokens == {}  # no slot for it yet
        job.cancel()
        finished(long_job, waiting)
        assert long_job.ends[0] is EndReason.CANCELLED and len(long_job.tokens[0]) < 400
        assert len(waiting.tokens[0]) == 24
        metrics = engine.metrics()
        assert metrics is not None and metrics.slots_busy == 0 and metrics.running == 0
    finally:
        engine.close()


def test_deadlines_end_running_jobs_with_length_and_refuse_queued_ones(
        starter_model: Path) -> None:
    engine = open_engine(starter_model, slots=1, context_size=2048)
    try:
        running = submit(engine, PROMPTS[0], max_tokens=1500, timeout=1.0)
        assert running.first_token.wait(30)
        queued = submit(engine, PROMPTS[1], timeout=0.3)
        for recorder in (running, queued):
            assert recorder.done.wait(30)
        assert running.ends[0] is EndReason.LENGTH and len(running.tokens[0]) < 1500
        assert isinstance(queued.error, ServerOverloaded) and queued.tokens == {}
    finally:
        engine.close()


def test_running_out_of_context_ends_that_sequence_only(
        engine: LocalEngine, cold_engine: LocalEngine) -> None:
    reference = submit(cold_engine, PROMPTS[2], max_tokens=60)
    finished(reference)
    overflowing = submit(engine, PROMPTS[0], max_tokens=10_000)
    neighbour = submit(engine, PROMPTS[2], max_tokens=60)
    finished(overflowing, neighbour)
    prompt_tokens = len(engine.tokenize(PROMPTS[0]))
    assert overflowing.ends[0] is EndReason.LENGTH
    assert prompt_tokens + len(overflowing.tokens[0]) == engine.n_ctx + 1
    assert neighbour.ends[0] is EndReason.LENGTH and neighbour.tokens == reference.tokens
