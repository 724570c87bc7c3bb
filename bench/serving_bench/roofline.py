"""Workload `roofline`: numpy memory bandwidth ÷ GGUF size = a decode ceiling, and each
engine's single-stream decode as a share of it."""

from __future__ import annotations

import time

import numpy as np

from bench.common.stats import fmt, median, ratio
from bench.serving_bench.context import Bench, Section, interleave, setup_line
from bench.serving_bench.engines import PEERS
from bench.serving_bench.single import measure_decode


def memory_bandwidth(mib: int, repeats: int) -> float:
    """Bytes/s of one numpy copy (read + write), best of ``repeats``."""
    source = np.ones(mib * 2**20 // 4, dtype=np.float32)
    target = np.empty_like(source)
    np.copyto(target, source)  # fault the pages in
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - started)
    return 2 * source.nbytes / best


def run_roofline(bench: Bench) -> Section:
    bandwidth = memory_bandwidth(bench.scale.bandwidth_mib, bench.scale.bandwidth_repeats)
    model_bytes = bench.config.model.stat().st_size
    ceiling = bandwidth / model_bytes
    print(f"  bandwidth {bandwidth / 1e9:.1f} GB/s, model {model_bytes / 1e6:.0f} MB, "
          f"ceiling {ceiling:.0f} tok/s")
    source = "the single-stream workload"
    if not bench.decode_rates:
        source = "a decode run per round"
        bench.decode_rates = interleave(bench, PEERS, "roofline",
                                        lambda server, _round: measure_decode(bench, server))
    rows = ["| engine | decode tok/s | % of ceiling |", "|---|---|---|"]
    for name, rates in bench.decode_rates.items():
        rate = median(rates)
        rows.append(f"| {name} | {fmt(rate)} | {fmt(ratio(rate, ceiling / 100))} |")
    body = "\n".join([
        setup_line(bench, f" Memory bandwidth: numpy copy of {bench.scale.bandwidth_mib} MiB "
                          f"(bytes read + written ÷ time, best of "
                          f"{bench.scale.bandwidth_repeats}, one thread): "
                          f"{bandwidth / 1e9:.1f} GB/s. Model file: {model_bytes / 1e6:.0f} MB, "
                          f"so one token per full read of the weights caps decode at "
                          f"**{ceiling:.0f} tok/s**. Decode rates ({bench.scale.tokens} tokens, "
                          f"median) from {source}."),
        "", *rows, "",
        "Targets: none (context for the decode numbers: a small model's step is bounded by "
        "compute and per-step overheads as much as by weight reads).",
    ])
    return Section("Serving: roofline", body)
