"""The engine on the real starter model: the decode loop, seeds, limits, cancellation, queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.engine.recording import Recorder

from qwenchat.core import SamplingParams
from qwenchat.engine import EndReason, EngineConfig, GenerationJob, LocalEngine, gbnf_grammar
from qwenchat.errors import ModelUnavailable, ServerOverloaded

PROMPT = ("<|im_start|>user\nWrite a very long story about a dragon.<|im_end|>\n"
          "<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def engine(starter_model: Path) -> Iterator[LocalEngine]:
    local = LocalEngine(EngineConfig(starter_model, context_size=512, threads=1, max_queue=1))
    local.load()
    try:
        yield local
    finally:
        local.close()


def generate(engine: LocalEngine, sampling: SamplingParams, *, max_tokens: int = 20, n: int = 1,
             stop_after: int | None = None) -> Recorder:
    recorder = Recorder(stop_after)
    engine.submit(GenerationJob(engine.tokenize(PROMPT), sampling, max_tokens, recorder, n=n))
    assert recorder.done.wait(120)
    return recorder


NO_EOS = ((2, -100.0),)  # the starter's <|im_end|>


def test_same_seed_same_tokens_and_choice_i_uses_seed_plus_i(engine: LocalEngine) -> None:
    sampling = SamplingParams(temperature=1.0, seed=11, logit_bias=NO_EOS)
    first = generate(engine, sampling)
    again = generate(engine, sampling)
    pair = generate(engine, sampling, n=2)
    next_seed = generate(engine, SamplingParams(temperature=1.0, seed=12, logit_bias=NO_EOS))
    assert first.tokens[0] == again.tokens[0] == pair.tokens[0]
    assert pair.tokens[1] == next_seed.tokens[0]
    assert pair.tokens[0] != pair.tokens[1]
    assert pair.stats is not None and pair.stats.completion_tokens == 40


def test_max_tokens_and_sink_stop_end_choices(engine: LocalEngine) -> None:
    limited = generate(engine, SamplingParams(temperature=0, logit_bias=NO_EOS), max_tokens=7)
    assert len(limited.tokens[0]) == 7 and limited.ends[0] is EndReason.LENGTH
    stopped = generate(engine, SamplingParams(temperature=0, logit_bias=NO_EOS), stop_after=3)
    assert len(stopped.tokens[0]) == 3 and stopped.ends[0] is EndReason.SINK_STOPPED


def test_a_full_context_ends_with_length(engine: LocalEngine) -> None:
    recorder = generate(engine, SamplingParams(temperature=0, logit_bias=NO_EOS),
                        max_tokens=10_000)
    prompt_tokens = len(engine.tokenize(PROMPT))
    assert recorder.ends[0] is EndReason.LENGTH
    assert prompt_tokens + len(recorder.tokens[0]) == engine.n_ctx + 1


def test_cancel_ends_the_job_at_the_next_token(engine: LocalEngine) -> None:
    recorder = Recorder()
    job = GenerationJob(engine.tokenize(PROMPT), SamplingParams(logit_bias=NO_EOS), 400,
                        recorder, n=3)
    engine.submit(job)
    assert recorder.first_token.wait(30)
    job.cancel()
    assert recorder.done.wait(30)
    assert recorder.ends == {0: EndReason.CANCELLED, 1: EndReason.CANCELLED,
                             2: EndReason.CANCELLED}
    assert len(recorder.tokens[0]) < 400


def test_queue_bound_and_abort(starter_model: Path) -> None:
    engine = LocalEngine(EngineConfig(starter_model, context_size=512, threads=1, max_queue=1,
                                      slots=1))
    engine.load()
    try:
        _fill_queue_then_abort(engine)
    finally:
        engine.close()


def _fill_queue_then_abort(engine: LocalEngine) -> None:
    running, waiting = Recorder(), Recorder()
    tokens = engine.tokenize(PROMPT)
    sampling = SamplingParams(logit_bias=NO_EOS)
    engine.submit(GenerationJob(tokens, sampling, 400, running))
    assert running.first_token.wait(30)
    engine.submit(GenerationJob(tokens, sampling, 400, waiting))
    with pytest.raises(ServerOverloaded):
        engine.submit(GenerationJob(tokens, sampling, 400, Recorder()))
    engine.abort_all()
    assert running.done.wait(30) and waiting.done.wait(30)
    assert isinstance(running.error, ModelUnavailable)
    assert isinstance(waiting.error, ModelUnavailable)
    assert running.ends == {}  # aborted: no normal ending is reported
    with pytest.raises(ModelUnavailable):
        engine.submit(GenerationJob(tokens, sampling, 1, Recorder()))


def test_thinking_budget_injects_the_end_and_the_answer_keeps_max_tokens(
        engine: LocalEngine) -> None:
    end = tuple(engine.tokenize("\n</answer>"))
    recorder = Recorder(reasoning_ends_at=end[-1])
    job = GenerationJob(engine.tokenize(PROMPT), SamplingParams(temperature=0, logit_bias=NO_EOS),
                        6, recorder, thinking_budget=5, end_reasoning=end)
    engine.submit(job)
    assert recorder.done.wait(60)
    tokens = recorder.tokens[0]
    assert tokens[5 : 5 + len(end)] == list(end)  # injected right at the budget
    assert len(tokens) == 5 + len(end) + 6  # and the answer still got its 6 tokens
    assert recorder.stats is not None
    assert recorder.stats.reasoning_tokens == 5 + len(end)
    assert recorder.stats.completion_tokens == len(tokens)


def test_max_completion_tokens_counts_reasoning_and_answer_together(
        engine: LocalEngine) -> None:
    end = tuple(engine.tokenize("\n</answer>"))
    sampling = SamplingParams(temperature=0, logit_bias=NO_EOS)
    for total, reasoning in ((3 + len(end) + 2, 3 + len(end)), (2, 2)):
        recorder = Recorder(reasoning_ends_at=end[-1])
        engine.submit(GenerationJob(engine.tokenize(PROMPT), sampling, 100, recorder,
                                    max_completion_tokens=total, thinking_budget=3,
                                    end_reasoning=end))
        assert recorder.done.wait(60)
        assert len(recorder.tokens[0]) == total  # the budget's end injected, then the answer
        assert recorder.ends[0] is EndReason.LENGTH
        assert recorder.stats is not None
        assert (recorder.stats.completion_tokens, recorder.stats.reasoning_tokens) == (
            total, reasoning)


def test_grammar_constrains_only_the_answer(engine: LocalEngine) -> None:
    end = tuple(engine.tokenize("\n</answer>"))
    recorder = Recorder(reasoning_ends_at=end[-1])
    constraint = engine.compile_grammar(gbnf_grammar('root ::= " Paris" | " Lyon"'))
    job = GenerationJob(engine.tokenize(PROMPT), SamplingParams(temperature=0.8, seed=5),
                        20, recorder, thinking_budget=4, end_reasoning=end,
                        constraint=constraint)
    engine.submit(job)
    assert recorder.done.wait(60)
    answer = recorder.tokens[0][4 + len(end):]
    text = engine.detokenize(answer)
    assert text in (" Paris", " Lyon")
    assert recorder.ends[0] is EndReason.END_OF_GENERATION
