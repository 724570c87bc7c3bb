"""Workload `single`: one stream at a time; decode tokens/s after a short prompt and prefill
tokens/s on a ~1000-token prompt no cache can help with."""

from __future__ import annotations

import random
import statistics

from bench.common.stats import fmt, median, ratio, verdict
from bench.serving_bench.client import DEFAULT_SYSTEM, chat, chat_once, note
from bench.serving_bench.context import DECODE_PROMPT, Bench, Section, interleave, setup_line
from bench.serving_bench.engines import LLAMA_SERVER, PEERS, QWENCHAT, Server


def measure_decode(bench: Bench, server: Server) -> float:
    """Single-stream decode tokens/s on a short prompt."""
    reply = chat_once(server, chat(DECODE_PROMPT), bench.scale.tokens,
                      bench.config.eos_token_id)
    return reply.decode_rate


def measure_prefill(bench: Bench, server: Server, text: str) -> float:
    """Prompt tokens ÷ TTFT for a ~``prefill_tokens`` prompt no cache can help with."""
    rates = []
    for _ in range(bench.scale.prefill_runs):
        messages = chat(text, f"Request {random.randrange(10**9)}. {DEFAULT_SYSTEM}")
        reply = chat_once(server, messages, 1, bench.config.eos_token_id)
        counted = bench.tokenizer.count_prompt(messages)
        if reply.prompt_tokens is not None and reply.prompt_tokens != counted:
            note(f"{server.engine.name}: prompt_tokens={reply.prompt_tokens}, "
                 f"the model's template gives {counted}")
        rates.append((reply.prompt_tokens or counted) / reply.ttft)
    return statistics.median(rates)


def run_single(bench: Bench) -> Section:
    text = bench.tokenizer.filler(bench.scale.prefill_tokens, random.Random(1))

    def measure(server: Server, _round: int) -> tuple[float, float]:
        decode = measure_decode(bench, server)
        prefill = measure_prefill(bench, server, text)
        print(f"  decode {decode:.1f} tok/s, prefill {prefill:.0f} tok/s")
        return decode, prefill

    results = interleave(bench, PEERS, "single", measure)
    bench.decode_rates = {name: [r[0] for r in runs] for name, runs in results.items()}
    decode = {name: median([r[0] for r in runs]) for name, runs in results.items()}
    prefill = {name: median([r[1] for r in runs]) for name, runs in results.items()}
    rows = ["| engine | decode tok/s | prefill tok/s | qwenchat ÷ engine, decode "
            "| qwenchat ÷ engine, prefill |", "|---|---|---|---|---|"]
    for name in results:
        rows.append(f"| {name} | {fmt(decode[name])} | {fmt(prefill[name], 0)} "
                    f"| {fmt(ratio(decode[QWENCHAT.name], decode[name]), 3)} "
                    f"| {fmt(ratio(prefill[QWENCHAT.name], prefill[name]), 3)} |")
    decode_ratio = ratio(decode[QWENCHAT.name], decode[LLAMA_SERVER.name])
    prefill_ratio = ratio(prefill[QWENCHAT.name], prefill[LLAMA_SERVER.name])
    met = None if decode_ratio is None or prefill_ratio is None else (
        decode_ratio >= 0.95 and prefill_ratio >= 0.95)
    body = "\n".join([
        setup_line(bench, f" Decode: {bench.scale.tokens} tokens after a short prompt; "
                          f"prefill: prompt tokens ÷ TTFT on a ~{bench.scale.prefill_tokens}"
                          "-token prompt made unique per request, max_tokens 1. Medians."),
        "", *rows, "",
        f"Targets: qwenchat ≥ 95% of llama-server on decode ({fmt(decode_ratio, 3)}) and "
        f"prefill ({fmt(prefill_ratio, 3)}): {verdict(met)}.",
    ])
    return Section("Serving: single stream", body)
