"""Grammars on llguidance and the engine's boundary checks, on the real starter model.

Every grammar here used to end the process inside llama.cpp's grammar engine (or is of a
class that did): now each is a 400 before generation, or ends its own job cleanly while the
engine goes on serving.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from tests.engine.recording import Recorder

from qwenchat.core import SamplingParams, ToolSpec
from qwenchat.engine import (
    EndReason,
    EngineConfig,
    GenerationJob,
    LocalEngine,
    gbnf_grammar,
    json_schema_grammar,
    sampling,
    tool_call_grammar,
)
from qwenchat.engine.constraint import Constraint, Matcher
from qwenchat.errors import ConstraintDeadEnd, InvalidParameter

PROMPT = "<|im_start|>user\nDescribe Paris in JSON.<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def engine(starter_model: Path) -> Iterator[LocalEngine]:
    local = LocalEngine(EngineConfig(starter_model, context_size=512, threads=1, slots=2))
    local.load()
    try:
        yield local
    finally:
        local.close()


def generate(engine: LocalEngine, constraint: Constraint, max_tokens: int = 40) -> Recorder:
    recorder = Recorder()
    engine.submit(GenerationJob(engine.tokenize(PROMPT), SamplingParams(temperature=0),
                                max_tokens, recorder, constraint=constraint))
    assert recorder.done.wait(120)
    return recorder


def text_of(engine: LocalEngine, recorder: Recorder) -> str:
    return engine.detokenize(recorder.tokens.get(0, []))


def test_a_schema_answer_validates_and_invents_no_keys(engine: LocalEngine) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12},
                                               "rank": {"type": "integer"}},
              "required": ["city", "rank"]}
    recorder = generate(engine, engine.compile_grammar(json_schema_grammar(schema)), 60)
    answer = json.loads(text_of(engine, recorder))
    jsonschema.validate(answer, schema)
    assert set(answer) == {"city", "rank"}  # no keys the schema does not list


def test_a_huge_max_length_compiles_at_once_and_is_kept(engine: LocalEngine) -> None:
    # llama.cpp's converter nested one rule per allowed character: a stack overflow
    schema = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 10**9}},
              "required": ["a"]}
    recorder = generate(engine, engine.compile_grammar(json_schema_grammar(schema)), 30)
    assert text_of(engine, recorder).lstrip().startswith('{')
    assert recorder.error is None


def test_a_forced_tool_call_matches_the_special_token_or_its_text(engine: LocalEngine) -> None:
    tool = ToolSpec("get_weather", None, {"type": "object",
                                          "properties": {"city": {"type": "string"}},
                                          "required": ["city"]})
    recorder = generate(engine, engine.compile_grammar(tool_call_grammar([tool])), 60)
    text = text_of(engine, recorder).strip()
    assert text.startswith("<tool_call>\n") and text.endswith("\n</tool_call>")
    call = json.loads(text.removeprefix("<tool_call>").removesuffix("</tool_call>"))
    assert call["name"] == "get_weather" and isinstance(call["arguments"]["city"], str)


@pytest.mark.parametrize("gbnf", [
    'root ::= "\\u0000"',  # llama.cpp: "Unexpected empty grammar stack", std::terminate
])
def test_grammars_llama_cpp_died_on_are_400s(engine: LocalEngine, gbnf: str) -> None:
    with pytest.raises(InvalidParameter, match="grammar cannot be enforced") as caught:
        engine.compile_grammar(gbnf_grammar(gbnf))
    assert caught.value.param == "grammar"


@pytest.mark.parametrize("schema", [{"type": "bogus"}, {"allOf": 5},
                                    {"properties": {"a": {"$ref": "#/definitions/x"}}}])
def test_a_schema_that_cannot_be_compiled_is_a_400(engine: LocalEngine,
                                                    schema: dict[str, object]) -> None:
    with pytest.raises(InvalidParameter, match="json_schema cannot be enforced") as caught:
        engine.compile_grammar(json_schema_grammar(schema), what="json_schema",
                               param="response_format")
    assert caught.value.param == "response_format"


@pytest.mark.parametrize("gbnf", ['root ::= root "a"', "root ::= x\nx ::= x"])
def test_a_grammar_with_no_way_forward_fails_its_job_only(engine: LocalEngine,
                                                          gbnf: str) -> None:
    recorder = generate(engine, engine.compile_grammar(gbnf_grammar(gbnf)))
    assert isinstance(recorder.error, ConstraintDeadEnd)
    assert recorder.error.status == 400
    after = generate(engine, engine.compile_grammar(gbnf_grammar('root ::= " ok"')))
    assert text_of(engine, after) == " ok" and after.error is None


def test_large_repetitions_are_bounded_work(engine: LocalEngine) -> None:
    grammar = gbnf_grammar('root ::= ("a" | "b" | "c"){100000}')
    recorder = generate(engine, engine.compile_grammar(grammar), 10)
    assert set(text_of(engine, recorder)) <= {"a", "b", "c"}
    assert len(recorder.tokens[0]) == 10


def test_token_ids_outside_the_vocabulary_are_400s(engine: LocalEngine) -> None:
    n_vocab = engine.info.n_vocab
    engine.check_token_ids([0, n_vocab - 1], "stop")
    for bad in (n_vocab, 99_999_999, -1):
        with pytest.raises(InvalidParameter, match="not in the model's vocabulary") as caught:
            engine.check_token_ids([bad], "stop")
        assert caught.value.param == "stop"
    with pytest.raises(ValueError):
        engine.detokenize([n_vocab])


SCHEMA = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12},
                                           "rank": {"type": "integer"}},
          "required": ["city", "rank"]}


def test_picks_that_wait_for_their_mask_give_the_same_answer(
        engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    inline = text_of(engine, generate(engine, engine.compile_grammar(
        json_schema_grammar(SCHEMA)), 60))
    monkeypatch.setattr(sampling, "INLINE_MASK_WAIT", 0.0)  # every refused pick waits
    waited = generate(engine, engine.compile_grammar(json_schema_grammar(SCHEMA)), 60)
    assert waited.error is None
    assert text_of(engine, waited) == inline
    jsonschema.validate(json.loads(inline), SCHEMA)


def test_a_choice_waiting_for_its_mask_holds_up_no_other(
        engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mask that takes as long as the test likes: the unconstrained neighbour ends every
    token of its answer meanwhile, and the waiting choice then ends as it would have."""
    release = threading.Event()
    compute = Matcher.compute_mask

    def held(self: Matcher) -> bytes:
        release.wait(120)
        return compute(self)

    monkeypatch.setattr(Matcher, "compute_mask", held)
    constrained = Recorder()
    engine.submit(GenerationJob(engine.tokenize(PROMPT), SamplingParams(temperature=0), 60,
                                constrained, constraint=engine.compile_grammar(
                                    json_schema_grammar(SCHEMA))))
    free = Recorder()
    engine.submit(GenerationJob(engine.tokenize(PROMPT), SamplingParams(temperature=0), 30,
                                free))
    try:
        assert free.done.wait(120) and free.error is None
        assert len(free.tokens[0]) == 30
        assert not constrained.done.is_set()  # its first refused pick is still waiting
    finally:
        release.set()
    assert constrained.done.wait(120) and constrained.error is None
    jsonschema.validate(json.loads(text_of(engine, constrained)), SCHEMA)


def test_a_choice_waiting_for_its_mask_can_be_cancelled(
        engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    started = threading.Event()
    compute = Matcher.compute_mask

    def held(self: Matcher) -> bytes:
        started.set()
        release.wait(120)
        return compute(self)

    monkeypatch.setattr(Matcher, "compute_mask", held)
    recorder = Recorder()
    job = GenerationJob(engine.tokenize(PROMPT), SamplingParams(temperature=0), 60, recorder,
                        constraint=engine.compile_grammar(json_schema_grammar(SCHEMA)))
    engine.submit(job)
    try:
        assert started.wait(120)
        job.cancelled.set()
        assert recorder.done.wait(120)  # ended while its mask is still being computed
        assert recorder.ends[0] is EndReason.CANCELLED
    finally:
        release.set()
    after = generate(engine, engine.compile_grammar(gbnf_grammar('root ::= " ok"')))
    assert text_of(engine, after) == " ok" and after.error is None


def test_a_prompt_too_long_for_any_tokenization_is_refused_untokenized(
        engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    assert engine._grammars is not None
    text = "x" * ((engine.n_ctx - 1) * engine._grammars.longest_token + 1)
    monkeypatch.setattr(type(engine._loaded_model()), "tokenize", None)  # must not be reached
    with pytest.raises(InvalidParameter, match=r"Range of input length should be \[1, 511\]"):
        engine.tokenize(text)
