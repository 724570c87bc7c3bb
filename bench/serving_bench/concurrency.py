"""Workload `concurrency`: 1, 2, 4, 8 clients sending requests back to back; aggregate
tokens/s, TTFT percentiles, and qwenchat's own overhead_fraction from /health."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import httpx

from bench.common.stats import fmt, median, percentile, ratio, verdict
from bench.serving_bench.client import Reply, chat, engine_health, run_client, stream_chat
from bench.serving_bench.context import SERIAL_MAX_CLIENTS, Bench, Section, interleave, setup_line
from bench.serving_bench.engines import LLAMA_SERVER, PEERS, QWENCHAT, Server


@dataclass(frozen=True)
class LevelRun:
    """One concurrency level on one server: wall time, tokens generated, every TTFT."""

    seconds: float
    tokens: int
    ttfts: tuple[float, ...]

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


@dataclass(frozen=True)
class ConcurrencyRun:
    levels: dict[int, LevelRun]
    overhead: float | None  # qwenchat's overhead_fraction after the run
    sample_share: float | None  # qwenchat's sampling-and-reporting share of step time
    client_cpu: float  # the benchmark process's CPU seconds ÷ wall seconds


def measure_level(bench: Bench, server: Server, clients: int, round_no: int) -> LevelRun:
    rng = random.Random(f"{round_no}-{clients}")
    prompts = [[bench.tokenizer.filler(bench.scale.request_tokens, rng,
                                       f"Request {round_no}.{clients}.{client}.{index}.")
                for index in range(bench.scale.requests_per_client)]
               for client in range(clients)]
    eos, tokens = bench.config.eos_token_id, bench.scale.tokens

    async def one_client(client: httpx.AsyncClient, texts: list[str]) -> list[Reply]:
        return [await stream_chat(client, server, chat(text), tokens, eos) for text in texts]

    async def all_clients(client: httpx.AsyncClient) -> list[list[Reply]]:
        return list(await asyncio.gather(*(one_client(client, texts) for texts in prompts)))

    started = time.perf_counter()
    replies = [reply for batch in run_client(all_clients) for reply in batch]
    seconds = time.perf_counter() - started
    return LevelRun(seconds, sum(r.tokens for r in replies), tuple(r.ttft for r in replies))


def run_concurrency(bench: Bench) -> Section:
    def measure(server: Server, round_no: int) -> ConcurrencyRun:
        levels = [c for c in bench.scale.levels
                  if not server.engine.serial or c <= SERIAL_MAX_CLIENTS]
        cpu, wall = time.process_time(), time.perf_counter()
        runs = {c: measure_level(bench, server, c, round_no) for c in levels}
        client_cpu = (time.process_time() - cpu) / (time.perf_counter() - wall)
        overhead = sample_share = None
        if server.engine is QWENCHAT:
            health = engine_health(server)
            overhead = health.get("overhead_fraction")
            steps = health.get("step_seconds_total") or 0.0
            sample_share = health.get("sample_seconds_total", 0.0) / steps if steps else None
        print("  " + ", ".join(f"c={c}: {run.rate:.1f} tok/s" for c, run in runs.items())
              + (f"; overhead {overhead:.2%}" if overhead is not None else "")
              + f"; client CPU {client_cpu:.0%}")
        return ConcurrencyRun(runs, overhead, sample_share, client_cpu)

    results = interleave(bench, PEERS, "concurrency", measure)
    rows, met = _concurrency_rows(bench, results)
    qwen = results[QWENCHAT.name]
    overhead = median([r.overhead for r in qwen if r.overhead is not None])
    sample = median([r.sample_share for r in qwen if r.sample_share is not None])
    client_cpu = max((r.client_cpu for runs in results.values() for r in runs), default=0.0)
    overhead_met = None if overhead is None else overhead < 0.05
    body = "\n".join([
        setup_line(bench, f" Each of c clients sends {bench.scale.requests_per_client} "
                          f"request(s) back to back (unique ~{bench.scale.request_tokens}-token "
                          f"prompts, {bench.scale.tokens} tokens each); llama-cpp-python "
                          f"only up to c={SERIAL_MAX_CLIENTS} (it serves serially). Aggregate "
                          "tok/s = generated tokens ÷ wall time, median over rounds; TTFT "
                          f"percentiles over all requests of all rounds. The client used at "
                          f"most {client_cpu:.0%} of one core."),
        "", *rows, "",
        f"qwenchat `overhead_fraction` (scheduling and batching outside llama_decode and "
        f"sampling, from /health after the run, median over rounds): "
        f"**{fmt(None if overhead is None else overhead * 100, 2)}%** of step time; sampling "
        f"and token reporting: {fmt(None if sample is None else sample * 100, 1)}%.",
        "",
        f"Targets: qwenchat ≥ llama-server aggregate tok/s at every c: {verdict(met)}; "
        f"Python overhead < 5% of step time: {verdict(overhead_met)}.",
    ])
    return Section("Serving: concurrency", body)


def _concurrency_rows(bench: Bench,
                      results: dict[str, list[ConcurrencyRun]]) -> tuple[list[str], bool | None]:
    rows = ["| clients | engine | aggregate tok/s | TTFT p50 ms | TTFT p95 ms "
            "| qwenchat ÷ engine, tok/s |", "|---|---|---|---|---|---|"]
    met: bool | None = None
    for clients in bench.scale.levels:
        rates: dict[str, float | None] = {}
        for name, runs in results.items():
            levels = [run.levels[clients] for run in runs if clients in run.levels]
            rates[name] = median([level.rate for level in levels])
            ttfts = [t * 1000 for level in levels for t in level.ttfts]
            if not levels:
                rows.append(f"| {clients} | {name} | skipped | | | |")
                continue
            rows.append(f"| {clients} | {name} | {fmt(rates[name])} "
                        f"| {fmt(percentile(ttfts, 0.5), 0)} | {fmt(percentile(ttfts, 0.95), 0)} "
                        f"| {fmt(ratio(rates[QWENCHAT.name], rates[name]), 3)} |")
        qwen, peer = rates.get(QWENCHAT.name), rates.get(LLAMA_SERVER.name)
        if qwen is not None and peer is not None:
            met = (met is not False) and qwen >= peer
    return rows, met
