"""The rounds of `bench/gateway.py`: every configuration once per round on a fresh server,
then, in the same round, the concurrent ones under load; the order rotated every round."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.common.cpu import BUSY_NEIGHBOURS, wait_for_quiet
from bench.common.rounds import schedule
from bench.gateway_bench.load import Load, load_once
from bench.gateway_bench.sequential import Run, run_once
from bench.gateway_bench.servers import Services
from bench.gateway_bench.setups import MODES, Scale, Setup


def run_rounds(setups: Sequence[Setup], loaded: Sequence[Setup], model: Path,
               services: Services, scale: Scale,
               workdir: Path) -> tuple[dict[str, list[Run]], dict[str, list[Load]]]:
    """Each setup's sequential runs and each ``loaded`` setup's concurrent runs, by name."""
    results: dict[str, list[Run]] = {setup.name: [] for setup in setups}
    loads: dict[str, list[Load]] = {setup.name: [] for setup in loaded}
    for round_no, lineup, setup in schedule(scale.rounds, setups, loaded):
        wait_for_quiet(30.0)
        if lineup == 0:
            run = run_once(setup, workdir / f"{setup.name}-{round_no + 1}", model, services,
                           scale)
            results[setup.name].append(run)
            summary = "; ".join(
                f"{mode} p50 {m['p50']:.2f} ms, CPU {m['cpu']:.0f} µs/req"
                for mode, m in ((mode, run.phases[mode].metrics()) for mode in MODES))
            busy = run.neighbours is not None and run.neighbours > BUSY_NEIGHBOURS
            print(f"round {round_no + 1}/{scale.rounds} {setup.name}: {summary}"
                  + (f" (disturbed: {run.neighbours:.2f} cores busy)" if busy else ""))
            continue
        load = load_once(setup, workdir / f"{setup.name}-c{scale.concurrency}-{round_no + 1}",
                         model, services, scale)
        loads[setup.name].append(load)
        m = load.metrics()
        busy = load.neighbours is not None and load.neighbours > BUSY_NEIGHBOURS
        print(f"round {round_no + 1}/{scale.rounds} {setup.name} x{scale.concurrency}: "
              f"{m['rps']:.0f} req/s, p50 {m['p50']:.2f} ms, p99 {m['p99']:.2f} ms, "
              f"CPU {m['cpu']:.0f} µs/req, client {m['client']:.0f} µs/req"
              + (f", {m['rows']:.1f} rows/commit" if load.commits else "")
              + (f" (disturbed: {load.neighbours:.2f} cores busy)" if busy else ""))
    return results, loads
