"""What every workload shares: the scale of a run, the interleaved rounds of fresh servers,
and the lines every section starts with."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from bench.common.cpu import BUSY_NEIGHBOURS, NeighbourMeter, wait_for_quiet
from bench.common.rounds import schedule
from bench.serving_bench.client import chat, chat_once, note
from bench.serving_bench.engines import Config, Engine, Server
from bench.serving_bench.prompts import Tokenizer

T = TypeVar("T")

SERIAL_MAX_CLIENTS = 4  # llama-cpp-python's server serves one request at a time

DECODE_PROMPT = "Write a long story about a dragon who learns to fly."


@dataclass(frozen=True)
class Scale:
    """How much each workload does; ``--quick`` shrinks it."""

    rounds: int
    tokens: int
    prefill_tokens: int = 1000
    prefill_runs: int = 2
    levels: tuple[int, ...] = (1, 2, 4, 8)
    requests_per_client: int = 2
    request_tokens: int = 60
    users: int = 8
    turns: int = 6
    reply_tokens: int = 60
    system_tokens: int = 300
    bandwidth_mib: int = 512
    bandwidth_repeats: int = 5
    quiet_wait: float = 60.0  # seconds to wait for other processes before each server

    def quick(self) -> Scale:
        return replace(self, rounds=1, tokens=min(self.tokens, 32), prefill_runs=1,
                       requests_per_client=1, users=4, turns=3, reply_tokens=30,
                       bandwidth_mib=128, bandwidth_repeats=3, quiet_wait=10.0)


@dataclass
class Bench:
    """Everything the workloads share."""

    config: Config
    scale: Scale
    tokenizer: Tokenizer
    decode_rates: dict[str, list[float]] = field(default_factory=dict)  # from `single`
    disturbed: Counter[str] = field(default_factory=Counter)  # runs beside busy neighbours


def interleave(bench: Bench, engines: Sequence[Engine], workload: str,
               measure: Callable[[Server, int], T]) -> dict[str, list[T]]:
    """``measure`` on a fresh server per round and engine, engines alternating (the order
    rotates every round). An engine that fails is reported and skipped for that round."""
    results: dict[str, list[T]] = {engine.name: [] for engine in engines}
    for round_no, _, engine in schedule(bench.scale.rounds, engines):
        print(f"[{workload}] round {round_no + 1}/{bench.scale.rounds}: {engine.name}")
        wait_for_quiet(bench.scale.quiet_wait, note)
        try:
            with Server(engine, bench.config) as server:
                chat_once(server, chat("Warm up."), 8, bench.config.eos_token_id)
                meter = NeighbourMeter(server.pid)
                results[engine.name].append(measure(server, round_no))
                neighbours = meter.cores()
                if neighbours is not None and neighbours > BUSY_NEIGHBOURS:
                    bench.disturbed[workload] += 1
                    note(f"{engine.name}, {workload} round {round_no + 1}: other processes "
                         f"kept {neighbours:.2f} cores busy; its numbers are disturbed")
        except Exception as exc:
            note(f"{engine.name} failed in {workload}: {exc}")
    return results


def setup_line(bench: Bench, extra: str = "") -> str:
    config, scale = bench.config, bench.scale
    return (f"Model {config.model.name}, {config.threads} llama.cpp threads, "
            f"{config.slots} slots of {config.context_size} tokens, {scale.rounds} interleaved "
            f"round(s) with fresh servers, "
            f"{os.cpu_count()} CPU cores shared with the client.{extra}")


def command_line(workload: str, bench: Bench, model_arg: str | None) -> str:
    config, scale = bench.config, bench.scale
    model = f" --model {model_arg}" if model_arg else ""
    return (f".venv/bin/python bench/serving.py --workloads {workload}{model} "
            f"--rounds {scale.rounds} --threads {config.threads} --slots {config.slots} "
            f"--context-size {config.context_size} --tokens {scale.tokens}")


@dataclass(frozen=True)
class Section:
    """One workload's part of BENCHMARKS.md."""

    title: str
    body: str
