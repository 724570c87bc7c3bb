"""Per-token cost of grammar-constrained sampling: full masking vs check-then-resample.

For each model (the starter's 49k vocabulary, the Qwen3 fixture's 151k), a JSON-object
grammar (llguidance, as the engine compiles it) constrains greedy generation from a
JSON-asking prompt, and every sampling step is timed three ways on the same logits: free
sampling (no grammar), the engine's check-then-resample, and masking the whole vocabulary
with the grammar before sampling. Also reported: how often the free token was refused (each
refusal costs a full mask on top of the check), and the grammar's compile time. Medians in
ms.

    .venv/bin/python bench/grammar.py [--tokens 64] [--models starter qwen3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import llama_cpp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common.report import write_section
from qwenchat.catalog import resolve_model_file
from qwenchat.core import SamplingParams
from qwenchat.engine.constraint import GrammarCompiler
from qwenchat.engine.grammars import json_object_grammar
from qwenchat.engine.llama import BatchRow, LlamaContext, LlamaModel
from qwenchat.engine.sampling import Sampler
from qwenchat.settings import default_home

PROMPT = ("<|im_start|>user\nGive me a JSON object describing Paris with keys name and "
          "population.<|im_end|>\n<|im_start|>assistant\n")


def _naive_sample(sampler: Sampler, context: LlamaContext, index: int) -> int:
    """Mask the whole vocabulary with the grammar, then sample (reads Sampler internals)."""
    candidates: Any = sampler._candidates
    logits = context.logits(index)
    sampler._matcher.mask(logits)  # type: ignore[union-attr]
    llama_cpp.llama_sampler_apply(sampler._chain, candidates.fill(logits))
    return int(candidates.selected())


def measure(path: Path, tokens: int) -> dict[str, float]:
    model = LlamaModel(path)
    context = LlamaContext(model, n_seq=1, n_ctx_seq=1024, n_batch=256, n_threads=1)
    prompt = model.tokenize(PROMPT)
    started = time.perf_counter()
    compiler = GrammarCompiler(model)
    tokenizer_seconds = time.perf_counter() - started
    started = time.perf_counter()
    constraint = compiler.compile(json_object_grammar())
    compile_seconds = time.perf_counter() - started
    free = Sampler(model, SamplingParams(temperature=0), seed=0)
    constrained = Sampler(model, SamplingParams(temperature=0), seed=0, constraint=constraint)
    constrained.activate_grammar()
    times: dict[str, list[float]] = {"free": [], "check": [], "naive": []}
    refused = 0
    context.decode([BatchRow(0, prompt[:-1], 0, False)])
    pending, position = prompt[-1], len(prompt) - 1
    for _ in range(tokens):
        index = context.decode([BatchRow(0, [pending], position, True)])[0]
        position += 1
        started = time.perf_counter()
        free_token = free.sample(context, index)
        times["free"].append(time.perf_counter() - started)
        started = time.perf_counter()
        naive_token = _naive_sample(constrained, context, index)
        times["naive"].append(time.perf_counter() - started)
        started = time.perf_counter()
        token = constrained.sample(context, index)  # check-then-resample; accepts the token
        times["check"].append(time.perf_counter() - started)
        assert token == naive_token, "both ways must pick the same token at temperature 0"
        refused += free_token != token
        if model.is_end_of_generation(token):
            break
        pending = token
    count = len(times["check"])
    result = {name: statistics.median(values) * 1000 for name, values in times.items()}
    result["mean_check"] = statistics.fmean(times["check"]) * 1000
    result["refused"] = refused / count
    result["tokens"] = count
    result["vocab"] = model.n_vocab
    result["compile"] = compile_seconds * 1000
    result["tokenizer"] = tokenizer_seconds * 1000
    free.close()
    constrained.close()
    context.close()
    model.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=["starter", "qwen3"])
    args = parser.parse_args()
    paths = {"starter": resolve_model_file("starter", default_home(), say=print)}
    if "qwen3" in args.models:
        from scripts.qwen3_fixture import build

        paths["qwen3"] = build()
    lines = ["| model | vocab | tokens | free ms | check-then-resample ms (median / mean) "
             "| full mask ms | free token refused | compile ms | tokenizer (per model) ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in args.models:
        r = measure(paths[name], args.tokens)
        lines.append(f"| {name} | {r['vocab']:.0f} | {r['tokens']:.0f} | {r['free']:.3f} | "
                     f"{r['check']:.3f} / {r['mean_check']:.3f} | {r['naive']:.3f} | "
                     f"{r['refused']:.0%} | {r['compile']:.2f} | {r['tokenizer']:.0f} |")
    lines += ["", "Per sampling step, greedy, JSON-object grammar on llguidance; the Qwen3 "
              "fixture has random weights, so its free token is refused far more often than "
              "a trained model's would be: its row is the worst case of check-then-resample. "
              "Compile is per request (in a worker thread); the tokenizer is built once per "
              "model at load."]
    print("\n".join(lines))
    write_section("Grammar", f".venv/bin/python bench/grammar.py --tokens {args.tokens} "
                  f"--models {' '.join(args.models)}", "\n".join(lines))


if __name__ == "__main__":
    main()
