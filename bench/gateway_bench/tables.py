"""The section `bench/gateway.py` writes: what was measured, the tables, the verdicts."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

from bench.common.cpu import BUSY_NEIGHBOURS
from bench.common.stats import verdict
from bench.gateway_bench.load import Load
from bench.gateway_bench.sequential import Run
from bench.gateway_bench.setups import MODES, PROMPT_TOKENS, REPLY, TARGET_MS, Scale, Setup


def median_of(runs: Sequence[Run], mode: str, metric: str) -> float:
    return statistics.median(run.phases[mode].metrics()[metric] for run in runs)


def added(runs: Sequence[Run], base: Sequence[Run] | None, mode: str,
          metric: str) -> float | None:
    """Median over rounds of this run's ``metric`` minus the baseline's in the same round."""
    if not base:
        return None
    return statistics.median(run.phases[mode].metrics()[metric] - off.phases[mode].metrics()[metric]
                             for run, off in zip(runs, base, strict=True))


def table(setups: Sequence[Setup], results: dict[str, list[Run]]) -> list[str]:
    rows = ["| config | mode | p50 ms | p99 ms | mean ms | added p50 ms | added p99 ms "
            "| server CPU µs/req | added CPU µs/req | database CPU µs/req |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for setup in setups:
        base = None if setup.engine else results.get("off")  # the engine's: not comparable
        rows += [table_row(setup, mode, results[setup.name], base) for mode in MODES]
    return rows


def table_row(setup: Setup, mode: str, runs: Sequence[Run], base: Sequence[Run] | None) -> str:
    def median(metric: str, digits: int) -> str:
        return f"{median_of(runs, mode, metric):.{digits}f}"

    def plus(metric: str, digits: int) -> str:
        delta = added(runs, base, mode, metric)
        return "—" if delta is None else f"{delta:+.{digits}f}"

    database = median("db", 0) if setup.ledger == "postgres" or setup.redis else "—"
    return (f"| {setup.name} | {mode} | {median('p50', 3)} | {median('p99', 3)} "
            f"| {median('mean', 3)} | {plus('p50', 3)} | {plus('p99', 3)} "
            f"| {median('cpu', 0)} | {plus('cpu', 0)} | {database} |")


def load_table(loaded: Sequence[Setup], loads: dict[str, list[Load]]) -> list[str]:
    rows = ["| config | requests/s | ÷ off | p50 ms | p99 ms | server CPU µs/req "
            "| database CPU µs/req | client CPU µs/req | rows per commit |",
            "|---|---|---|---|---|---|---|---|---|"]
    base = loads.get("off")
    for setup in loaded:
        runs = loads[setup.name]

        def median(metric: str, digits: int, runs: Sequence[Load] = runs) -> str:
            return f"{statistics.median(run.metrics()[metric] for run in runs):.{digits}f}"

        share = "—"
        if base:  # the median over rounds of the ratio to off in the same round
            ratios = [run.metrics()["rps"] / off.metrics()["rps"]
                      for run, off in zip(runs, base, strict=True)]
            share = f"{statistics.median(ratios):.2f}"
        database = median("db", 0) if setup.ledger == "postgres" or setup.redis else "—"
        per_commit = median("rows", 1) if setup.ledger else "—"
        rows.append(f"| {setup.name} | {median('rps', 0)} | {share} | {median('p50', 2)} "
                    f"| {median('p99', 2)} | {median('cpu', 0)} | {database} "
                    f"| {median('client', 0)} | {per_commit} |")
    return rows


def verdicts(results: dict[str, list[Run]]) -> list[str]:
    base = results.get("off")
    lines = []
    for name in ("on-sqlite", "on-postgres", "on-sqlite-redis"):
        if name in results and base:
            worst = max(added(results[name], base, mode, "p50") or 0.0 for mode in MODES)
            lines.append(f"{name} {worst:.3f} ms: {verdict(worst < TARGET_MS)}")
    return lines


def describe(scale: Scale) -> list[str]:
    """What the table measured, and how to read it."""
    return [
        "Per-request cost of the gateway, on the same requests. The servers answer from a "
        f"ChatService over a scripted backend (real catalog, request checks and gateway calls, "
        f"{PROMPT_TOKENS} prompt tokens, {len(REPLY)} fixed content deltas, no model), so the "
        "differences are the gateway's. `off`: no auth, no limits, a ledger that records "
        "nothing (the metrics stay on); `auth`: a key required; `auth-limits`: plus per-key "
        "and model-wide rpm/tpm windows and the key's token quota, set never to refuse; "
        "`ledger-sqlite`: the ledger alone; `on-*`: everything, the ledger on SQLite (WAL, "
        "`synchronous=NORMAL`) or PostgreSQL (default `fsync`, `synchronous_commit`), the "
        "counters in process or in Redis. `engine-on-sqlite`: everything in front of the "
        "real engine (`qwenchat serve`, starter model, one-token completions), for scale.",
        "",
        f"{scale.rounds} interleaved round(s), a fresh server per configuration and round; "
        f"per run {scale.warmup} warm-up requests, then {scale.requests} non-stream and "
        f"{scale.requests} streamed requests, sequential, one keep-alive client "
        f"(engine-on-sqlite: {scale.engine_requests} each). Latency: the client's, from "
        "sending to the response's last byte; server CPU: the server process's utime + "
        "stime ÷ requests; database CPU: the PostgreSQL or Redis processes'. Medians over "
        "rounds; added = median over rounds of the difference to `off` in the same round. "
        f"{os.cpu_count()} CPU cores shared by client, server and databases, drifting ±15% "
        "over minutes: read the added columns, not the absolute numbers.",
    ]


def describe_load(scale: Scale) -> str:
    return (
        f"Under load: {scale.concurrency} concurrent clients, one keep-alive connection each, "
        f"{max(scale.warmup, scale.concurrency)} warm-up requests, then "
        f"{scale.concurrent_requests} non-stream requests (all clients together), each client "
        "sending its next as soon as its last is answered; a fresh server per configuration "
        "and round, after the sequential runs of the round. The ledger's group commit shows "
        "here: a writer thread commits every row waiting in one transaction, and each "
        "response waits for its row's. The client is a minimal HTTP/1.1 one on asyncio "
        "streams (httpx.AsyncClient spent ~1.8 ms of CPU per request, several times the "
        "server's); client CPU: this process's. ÷ off: median over rounds of the ratio to "
        "`off`'s requests/s in the same round; rows per commit: measured requests ÷ the "
        "ledger's commits over the phase (`Ledger.num_commits`, asked of the server over a "
        "pipe before and after). The server is one process (one event loop, plus the "
        f"ledger's writer thread) on {os.cpu_count()} cores shared with the client and the "
        "databases.")


def report(setups: Sequence[Setup], results: dict[str, list[Run]], scale: Scale,
           commits: list[str], loaded: Sequence[Setup] = (),
           loads: dict[str, list[Load]] | None = None) -> str:
    neighbours = [run.neighbours for runs in results.values() for run in runs]
    neighbours += [load.neighbours for runs in (loads or {}).values() for load in runs]
    disturbed = sum(1 for busy in neighbours if busy is not None and busy > BUSY_NEIGHBOURS)
    lines = [
        *describe(scale),
        "", *table(setups, results), "",
        f"Target (added p50 < {TARGET_MS:g} ms with everything on, worse of the two modes): "
        + ("; ".join(verdicts(results)) or "n/a") + ".",
    ]
    if commits:
        lines += ["", "One ledger row committed alone, from this script, p50 of 500: a bare "
                      "SQLAlchemy insert + commit, and the same through `Ledger.record` "
                      "(writer thread, future):", "", *commits]
    if loaded and loads:
        lines += ["", describe_load(scale), "", *load_table(loaded, loads)]
    if disturbed:
        lines += ["", f"Caution: in {disturbed} run(s) other processes kept more than "
                      f"{BUSY_NEIGHBOURS} cores busy; rerun on a quiet machine."]
    return "\n".join(lines)
