"""One front on fresh processes, and the rounds: every front once per round, the order
rotated every round."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common.cpu import BUSY_NEIGHBOURS, NeighbourMeter, process_cpu, wait_for_quiet
from bench.common.rounds import schedule
from bench.upstream_bench.fronts import stack
from bench.upstream_bench.phases import Phase, concurrent, sequential, streamed
from bench.upstream_bench.scale import Scale


@dataclass(frozen=True)
class Run:
    """One front on fresh processes: its phases, and how busy other processes kept the cores."""

    sequential: Phase
    concurrent: Phase
    streamed: Phase
    neighbours: float | None


def run_once(front: str, home: Path, scale: Scale, litellm: Path | None) -> Run:
    with stack(front, home, scale, litellm) as running:
        tested = [running.upstream.pid, *running.gateway_pids()]
        meter, cpu = NeighbourMeter(None), process_cpu(tested)
        started_at = time.perf_counter()
        first = asyncio.run(sequential(running, scale))
        second = asyncio.run(concurrent(running, scale))
        httpx.post(f"{running.upstream_url}/bench/chunk-delay",
                   content=str(scale.chunk_delay_ms)).raise_for_status()
        third = asyncio.run(streamed(running, scale))
        tested = sorted(set(tested) | set(running.gateway_pids()))
        cores = meter.cores()
        if cores is not None:  # the upstream and the gateway are the run, not neighbours
            cores = max(0.0, cores - (process_cpu(tested) - cpu)
                        / (time.perf_counter() - started_at))
        answered = int(httpx.get(f"{running.upstream_url}/bench/count").text)
    if answered != scale.num_sent():
        raise RuntimeError(f"{front}: the upstream answered {answered} of "
                           f"{scale.num_sent()} requests")
    return Run(first, second, third, cores)


def run_rounds(fronts: Sequence[str], scale: Scale, workdir: Path,
               litellm: Path | None) -> dict[str, list[Run]]:
    """Every front once per round on fresh processes, the order rotated every round."""
    results: dict[str, list[Run]] = {front: [] for front in fronts}
    for round_no, _, front in schedule(scale.rounds, fronts):
        wait_for_quiet(30.0)
        run = run_once(front, workdir / f"{front}-{round_no + 1}", scale, litellm)
        results[front].append(run)
        one, many, chunks = (p.metrics() for p in (run.sequential, run.concurrent,
                                                     run.streamed))
        busy = run.neighbours is not None and run.neighbours > BUSY_NEIGHBOURS
        print(f"round {round_no + 1}/{scale.rounds} {front}: 1 client p50 {one['p50']:.3f} "
              f"ms; x{scale.concurrency} {many['rps']:.0f} req/s, {many['cores']:.2f} "
              f"gateway cores; chunk delay p50 {chunks['p50']:.3f} ms"
              + (f" (disturbed: {run.neighbours:.2f} cores busy)" if busy else ""))
    return results
