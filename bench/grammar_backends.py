"""Per-token cost of two grammar backends on Qwen's 151k vocabulary: llguidance vs llama.cpp GBNF.

A fixed valid JSON answer is tokenized with the Qwen3 tokenizer (the fixture's tokenizer.json)
and walked token by token under two grammars: any JSON object (the engine's
``json_object_grammar``) and a JSON schema (an object with a string, an integer, a boolean and
an array of strings; the engine's ``json_schema_grammar``). Each step is timed per backend:

- full mask: the set of tokens the grammar allows next, over the whole vocabulary (llguidance:
  ``fill_next_token_bitmask`` into a bitmask; llama.cpp: the grammar sampler applied to the full
  candidates array);
- mask on candidates: what a refused token costs in the engine, from logits to a masked
  candidates array ready for the sampler chain (llguidance: bitmask, unpacked to -inf logits,
  then the candidates array filled; llama.cpp: candidates filled, then the grammar applied);
- one-token check: is the sampled token allowed (llguidance: ``validate_tokens``; llama.cpp:
  the grammar applied to a one-candidate array, as ``Sampler`` does);
- accept: advance the grammar by the token (``consume_token`` / ``llama_sampler_accept``).

llguidance runs twice: on its own JSON-schema compiler (what one would use) and on the
engine's very GBNF text converted with ``llguidance.grammar_from("gbnf", ...)``. Needs
``pip install llguidance`` (not a qwenchat dependency). Medians in ms over all tokens of all
rounds; setup is the per-request cost of compiling the grammar (median over rounds).

    .venv/bin/python bench/grammar_backends.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common.report import write_section
from qwenchat.engine.grammars import json_object_grammar, json_schema_grammar
from qwenchat.engine.llama import LlamaModel
from qwenchat.engine.sampling import _Candidates, grammar_stage

try:
    import llguidance
    from llguidance.numpy import allocate_token_bitmask, fill_next_token_bitmask
except ImportError:  # pragma: no cover - a benchmark-only dependency
    raise SystemExit("llguidance is not installed: .venv/bin/pip install llguidance") from None

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "population": {"type": "integer"},
        "capital": {"type": "boolean"},
        "landmarks": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "population", "capital", "landmarks"],
    "additionalProperties": False,
}
# Valid under both grammars, written the way a model writes JSON (a space after ':' and ',').
ANSWER = json.dumps({"name": "Paris", "population": 2102650, "capital": True,
                     "landmarks": ["Eiffel Tower", "Louvre", "Notre-Dame de Paris",
                                   "Sacré-Cœur", "Musée d'Orsay"]}, ensure_ascii=False)
N_VOCAB_QWEN3 = 151_936
IM_END = 151_645
LLG_SCHEMA, LLG_GBNF, LLAMA = ("llguidance (its JSON schema)", "llguidance (engine's GBNF)",
                               "llama.cpp GBNF")
# Shares of free tokens refused, from BENCHMARKS.md "Grammar": the starter, the Qwen3 fixture.
TYPICAL, WORST = 0.05, 0.77

Logits = npt.NDArray[np.float32]


@dataclass
class Timings:
    """Per-token samples (seconds) of one backend on one grammar."""

    mask: list[float] = field(default_factory=list)
    on_candidates: list[float] = field(default_factory=list)
    check: list[float] = field(default_factory=list)
    accept: list[float] = field(default_factory=list)
    allowed: list[int] = field(default_factory=list)
    setup: list[float] = field(default_factory=list)

    def ms(self, name: str) -> float:
        """The median of one measurement, in ms."""
        values: list[float] = getattr(self, name)
        return statistics.median(values) * 1000

    def row(self, grammar: str, backend: str) -> str:
        cells = [f"{self.ms(name):.3f}" for name in ("mask", "on_candidates", "check",
                                                      "accept")]
        return (f"| {grammar} | {backend} | {' | '.join(cells)} | "
                f"{statistics.median(self.allowed):,.0f} | {self.ms('setup'):.3f} |")


def walk_llguidance(tokenizer: llguidance.LLTokenizer, grammar: str, tokens: list[int],
                    logits: Logits, candidates: _Candidates, rounds: int) -> Timings:
    timings = Timings()
    bitmask = allocate_token_bitmask(1, tokenizer.vocab_size)
    n_vocab = len(logits)
    for _ in range(rounds):
        started = time.perf_counter()
        matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
        timings.setup.append(time.perf_counter() - started)
        if matcher.is_error():
            raise RuntimeError(f"llguidance rejected the grammar: {matcher.get_error()}")
        for token in tokens:
            t0 = time.perf_counter()
            fill_next_token_bitmask(matcher, bitmask)
            t1 = time.perf_counter()
            allowed = np.unpackbits(bitmask.view(np.uint8), bitorder="little")[:n_vocab]
            candidates.fill(np.where(allowed.astype(bool), logits, np.float32(-np.inf)))
            t2 = time.perf_counter()
            ok = matcher.validate_tokens([token]) == 1
            t3 = time.perf_counter()
            assert ok and allowed[token], f"llguidance refused token {token} of the answer"
            timings.allowed.append(int(allowed.sum()))
            t4 = time.perf_counter()
            consumed = matcher.consume_token(token)
            t5 = time.perf_counter()
            assert consumed, matcher.get_error()
            timings.mask.append(t1 - t0)
            timings.on_candidates.append(t2 - t0)
            timings.check.append(t3 - t2)
            timings.accept.append(t5 - t4)
        assert matcher.is_accepting(), "the answer must complete the grammar"
    return timings


def walk_llama(model: LlamaModel, grammar: str, tokens: list[int], logits: Logits,
               candidates: _Candidates, rounds: int) -> Timings:
    timings = Timings()
    for _ in range(rounds):
        started = time.perf_counter()
        stage = grammar_stage(model, grammar)
        timings.setup.append(time.perf_counter() - started)
        for token in tokens:
            t0 = time.perf_counter()
            array = candidates.fill(logits)
            t1 = time.perf_counter()
            llama_cpp.llama_sampler_apply(stage, array)
            t2 = time.perf_counter()
            masked = _masked_logits(candidates)
            timings.allowed.append(int(np.isfinite(masked).sum()))
            assert np.isfinite(masked[token]), f"llama.cpp refused token {token} of the answer"
            t3 = time.perf_counter()
            llama_cpp.llama_sampler_apply(stage, candidates.one(token, 0.0))
            ok = candidates.one_is_allowed()
            t4 = time.perf_counter()
            assert ok, f"llama.cpp's one-token check refused token {token}"
            t5 = time.perf_counter()
            llama_cpp.llama_sampler_accept(stage, token)
            t6 = time.perf_counter()
            timings.mask.append(t2 - t1)
            timings.on_candidates.append(t2 - t0)
            timings.check.append(t4 - t3)
            timings.accept.append(t6 - t5)
        llama_cpp.llama_sampler_free(stage)
    return timings


def _masked_logits(candidates: _Candidates) -> Logits:
    """The logits by token id after a sampler ran on the full array (reads its buffer)."""
    buffer: Any = candidates._buffer
    out = np.full(len(buffer), -np.inf, dtype=np.float32)
    out[buffer["id"]] = buffer["logit"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from scripts.qwen3_fixture import build, tokenizer_dir

    model = LlamaModel(build())
    assert model.n_vocab == N_VOCAB_QWEN3, "the fixture has Qwen3's vocabulary"
    started = time.perf_counter()
    tokenizer = llguidance.LLTokenizer(str(tokenizer_dir() / "tokenizer.json"),
                                       n_vocab=model.n_vocab, eos_token=IM_END)
    tokenizer_s = time.perf_counter() - started
    tokens = tokenizer.tokenize_str(ANSWER)
    assert tokens == model.tokenize(ANSWER, add_special=False), "tokenizers must agree"
    logits = np.random.default_rng(0).standard_normal(model.n_vocab).astype(np.float32)
    candidates = _Candidates(model.n_vocab)
    grammars: dict[str, tuple[str, str]] = {
        "JSON object": (json_object_grammar(), json.dumps({"type": "object"})),
        "JSON schema": (json_schema_grammar(SCHEMA), json.dumps(SCHEMA)),
    }
    walks: list[tuple[str, Callable[[str, str], Timings]]] = [
        (LLG_SCHEMA, lambda _gbnf, schema: walk_llguidance(
            tokenizer, llguidance.grammar_from("json_schema", schema), tokens, logits,
            candidates, args.rounds)),
        (LLG_GBNF, lambda gbnf, _schema: walk_llguidance(
            tokenizer, llguidance.grammar_from("gbnf", gbnf), tokens, logits, candidates,
            args.rounds)),
        (LLAMA, lambda gbnf, _schema: walk_llama(
            model, gbnf, tokens, logits, candidates, args.rounds)),
    ]
    results = {(grammar_name, backend): walk(gbnf, schema)
               for grammar_name, (gbnf, schema) in grammars.items() for backend, walk in walks}
    model.close()
    lines = ["| grammar | backend | full mask ms | mask on candidates ms | one-token check ms "
             "| accept ms | allowed tokens | setup ms |", "|---|---|---|---|---|---|---|---|"]
    lines += [timings.row(*key) for key, timings in results.items()]
    lines += ["", f"Medians per token over {args.rounds} walks of a {len(tokens)}-token JSON "
              f"answer, Qwen3 tokenizer ({N_VOCAB_QWEN3:,} ids), llguidance "
              f"{llguidance.__version__}, one thread. \"Mask on candidates\" is what a refused "
              "token costs the engine (logits to a masked candidates array); \"allowed "
              "tokens\" is the median size of the mask; setup compiles the grammar (per "
              "request).", "", _verdict(results, tokenizer_s)]
    table = "\n".join(lines)
    print(table)
    write_section("Grammar backends", f".venv/bin/python bench/grammar_backends.py --rounds "
                  f"{args.rounds}", table)


def _verdict(results: dict[tuple[str, str], Timings], tokenizer_s: float) -> str:
    """What the numbers mean for choosing the backend (2–4 sentences, numbers measured)."""
    llama = [t for (_, backend), t in results.items() if backend == LLAMA]
    guided = [t for (_, backend), t in results.items() if backend != LLAMA]
    refusal_llama = [t.ms("on_candidates") for t in llama]
    refusal_guided = max(t.ms("on_candidates") for t in guided)
    check_llama = max(t.ms("check") for t in llama)
    check_guided = max(t.ms("check") for t in guided)
    lo = results["JSON object", LLAMA]
    lg = results["JSON object", LLG_GBNF]

    def expected(t: Timings, refused: float) -> float:
        return t.ms("check") + t.ms("accept") + refused * t.ms("on_candidates")

    return (
        f"A refused token costs {min(refusal_llama):.0f}–{max(refusal_llama):.0f} ms with "
        f"llama.cpp's GBNF but at most {refusal_guided:.2f} ms with llguidance (its mask "
        f"itself is ~{max(t.ms('mask') for t in guided):.3f} ms; the rest is numpy unpacking "
        f"the bitmask and refilling the candidates array), and its one-token check "
        f"({check_guided:.3f} ms) is cheaper than llama.cpp's ({check_llama:.3f} ms). "
        f"On the JSON-object grammar, check-then-resample costs ≈ {expected(lo, TYPICAL):.2f} "
        f"ms per token on llama.cpp at a trained model's {TYPICAL:.0%} refusals and "
        f"≈ {expected(lo, WORST):.1f} ms at the fixture's {WORST:.0%} (\"Grammar\"), against "
        f"≈ {expected(lg, TYPICAL):.3f} / {expected(lg, WORST):.2f} ms on llguidance, which "
        f"could even mask every token ({lg.ms('on_candidates') + lg.ms('accept'):.2f} ms) "
        f"with no worst case. llguidance can replace the full-mask fallback without changing "
        f"the grammars: it runs the engine's own GBNF (via `llguidance.grammar_from(\"gbnf\", "
        f"...)`, allowing the same tokens as llama.cpp but for a few dozen byte tokens that "
        f"are not valid UTF-8) or compiles JSON schemas itself (a slightly different "
        f"language: compare the allowed tokens). Integrating it takes no llama.cpp rebuild, "
        f"only an optional dependency (an abi3 wheel), an `LLTokenizer` per model (from "
        f"tokenizer.json, or the GGUF vocabulary via `llguidance.llamacpp`; "
        f"{tokenizer_s * 1000:.0f} ms here), an `LLMatcher` per constrained sequence, and in "
        f"`Sampler`: `validate_tokens` as the check, on refusal the bitmask written as -inf "
        f"logits before the candidates array goes through the llama.cpp chain, and "
        f"`consume_token` on accept."
    )

if __name__ == "__main__":
    main()
