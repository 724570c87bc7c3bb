"""The section `bench/upstream.py` writes: what was measured, the three tables, the
verdicts."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence

from bench.common.cpu import BUSY_NEIGHBOURS
from bench.common.stats import verdict
from bench.upstream_bench.phases import Phase
from bench.upstream_bench.runs import Run
from bench.upstream_bench.scale import LITELLMS, STREAM_WARMUP, Scale

TARGET_ADDED_MS = 1.0  # added p50 at one client, non-stream

TARGET_PER_CORE = 3.0  # qwenchat's requests/s per core ÷ LiteLLM's


def phase_of(run: Run, phase: str) -> Phase:
    """``run``'s "sequential", "concurrent" or "streamed" phase."""
    return getattr(run, phase)  # type: ignore[no-any-return]


def median_of(runs: Sequence[Run], phase: str, metric: str) -> float:
    return statistics.median(phase_of(run, phase).metrics()[metric] for run in runs)


def added(runs: Sequence[Run], base: Sequence[Run] | None, phase: str,
          metric: str) -> float | None:
    """Median over rounds of this front's ``metric`` minus direct's in the same round."""
    if not base:
        return None
    return statistics.median(phase_of(run, phase).metrics()[metric]
                             - phase_of(direct, phase).metrics()[metric]
                             for run, direct in zip(runs, base, strict=True))


def ratio(runs: Sequence[Run], base: Sequence[Run], phase: str, metric: str) -> float:
    """Median over rounds of this front's ``metric`` ÷ the other's in the same round."""
    return statistics.median(phase_of(run, phase).metrics()[metric]
                             / phase_of(other, phase).metrics()[metric]
                             for run, other in zip(runs, base, strict=True))


def _plus(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:+.{digits}f}"


def sequential_table(results: dict[str, list[Run]]) -> list[str]:
    rows = ["| front | p50 ms | p99 ms | mean ms | added p50 ms | added p99 ms "
            "| gateway CPU µs/req | upstream CPU µs/req |", "|---|---|---|---|---|---|---|---|"]
    base = results.get("direct")
    for front, runs in results.items():
        def median(metric: str, digits: int, runs: Sequence[Run] = runs) -> str:
            return f"{median_of(runs, 'sequential', metric):.{digits}f}"

        gateway = median("gateway", 0) if front != "direct" else "—"
        rows.append(f"| {front} | {median('p50', 3)} | {median('p99', 3)} | {median('mean', 3)} "
                    f"| {_plus(added(runs, base, 'sequential', 'p50'), 3)} "
                    f"| {_plus(added(runs, base, 'sequential', 'p99'), 3)} "
                    f"| {gateway} | {median('upstream', 0)} |")
    return rows


def concurrent_table(results: dict[str, list[Run]]) -> list[str]:
    rows = ["| front | requests/s | p50 ms | p99 ms | gateway cores used | gateway CPU µs/req "
            "| requests/s per gateway core | upstream CPU µs/req | client CPU µs/req |",
            "|---|---|---|---|---|---|---|---|---|"]
    for front, runs in results.items():
        def median(metric: str, digits: int, runs: Sequence[Run] = runs) -> str:
            return f"{median_of(runs, 'concurrent', metric):.{digits}f}"

        gateway = front != "direct"
        rows.append(f"| {front} | {median('rps', 0)} | {median('p50', 2)} | {median('p99', 2)} "
                    f"| {median('cores', 2) if gateway else '—'} "
                    f"| {median('gateway', 0) if gateway else '—'} "
                    f"| {median('per_core', 0) if gateway else '—'} "
                    f"| {median('upstream', 0)} | {median('client', 0)} |")
    return rows


def streamed_table(results: dict[str, list[Run]]) -> list[str]:
    rows = ["| front | piece delay p50 ms | p99 ms | added p50 ms | added p99 ms "
            "| first piece p50 ms | gateway CPU µs/piece |", "|---|---|---|---|---|---|---|"]
    base = results.get("direct")
    for front, runs in results.items():
        def median(metric: str, digits: int, runs: Sequence[Run] = runs) -> str:
            return f"{median_of(runs, 'streamed', metric):.{digits}f}"

        rows.append(f"| {front} | {median('p50', 3)} | {median('p99', 3)} "
                    f"| {_plus(added(runs, base, 'streamed', 'p50'), 3)} "
                    f"| {_plus(added(runs, base, 'streamed', 'p99'), 3)} | {median('first', 3)} "
                    f"| {median('chunk', 1) if front != 'direct' else '—'} |")
    return rows


def verdicts(results: dict[str, list[Run]]) -> list[str]:
    lines = []
    qwenchat, direct = results.get("qwenchat"), results.get("direct")
    if qwenchat and direct:
        more = added(qwenchat, direct, "sequential", "p50") or 0.0
        lines.append(f"added p50 ≤ {TARGET_ADDED_MS:g} ms (qwenchat, one client, non-stream): "
                     f"{more:.3f} ms, {verdict(more <= TARGET_ADDED_MS)}")
    for name in LITELLMS:
        if qwenchat and results.get(name):
            per_core = ratio(qwenchat, results[name], "concurrent", "per_core")
            rps = ratio(qwenchat, results[name], "concurrent", "rps")
            lines.append(f"≥ {TARGET_PER_CORE:g}× {name}'s requests/s per core: qwenchat ÷ "
                         f"{name} = {per_core:.2f}, {verdict(per_core >= TARGET_PER_CORE)} "
                         f"(requests/s alone: {rps:.2f}×)")
    return lines


def describe(scale: Scale) -> list[str]:
    return [
        "Gateway overhead in front of an OpenAI-compatible upstream: the same scripted "
        f"upstream (harness/scripted_upstream.py: a fixed {scale.chunks}-piece reply, 10–25 "
        "µs of CPU a request) reached `direct`ly, through `qwenchat` (`[engine] model = "
        "\"none\"`, an `openai`-dialect deployment; keys required, per-key and model-wide "
        "rpm/tpm and the key's quota set never to refuse, the usage ledger on SQLite, one row "
        "per request checked at the end), and through the LiteLLM proxy (scripts/litellm.sh: "
        "litellm[proxy] 1.108.0 plus httptools in its own venv; `litellm --config`, one "
        "`openai/fake-model` entry, no database, so no virtual keys, budgets or spend logs: "
        "`litellm` only routes, `litellm-key` also checks a `master_key`). Both gateways log "
        "at warning (no access-log line per request). qwenchat always streams from the "
        "upstream (usage is always metered, and a replica can be left before its first "
        f"byte), so its non-stream requests cost the upstream a {scale.chunks + 4}-frame "
        "stream to assemble; direct and LiteLLM get one JSON.",
        "",
        f"{scale.rounds} interleaved round(s), fresh processes (upstream, gateway, its home, "
        "database and key) per front and round, three phases each. One client: "
        f"{scale.warmup} warm-up then {scale.requests} non-stream requests, sequential, "
        "latency from sending to the last byte; \"added\" = median over rounds of the "
        "difference to `direct` in the same round. The client is a minimal HTTP/1.1 one on "
        f"asyncio streams. {os.cpu_count()} CPU cores shared by client, gateway and upstream, "
        "nothing pinned; CPU from /proc (utime + stime, a gateway's whole process tree).",
    ]


def describe_load(scale: Scale) -> str:
    return (f"{scale.concurrency} concurrent clients, one keep-alive connection each, "
            f"{max(scale.warmup, scale.concurrency)} warm-up then {scale.concurrent_requests} "
            "non-stream requests in all, each client sending its next as soon as its last is "
            "answered. Gateway cores used = the gateway's CPU seconds ÷ wall seconds; "
            "requests/s per gateway core = requests/s ÷ cores used (= 1 ÷ CPU per request). "
            "Both gateways run one process with one event loop (LiteLLM's default, "
            "`--num_workers 1`), so neither can use more than about one core here.")


def describe_streams(scale: Scale) -> str:
    return (f"Streaming: the upstream waits {scale.chunk_delay_ms:g} ms before each chunk "
            "(each its own write) and writes into each piece's content the CLOCK_MONOTONIC "
            "moment it wrote it; the client, on the same machine, subtracts that from the "
            f"moment its read returned. {STREAM_WARMUP} warm-up then {scale.streams} streamed "
            f"requests (`include_usage`), one at a time, each on its own connection: "
            f"{scale.streams * scale.chunks} pieces per run. The first piece also waits for "
            "the gateway to start its answer (status line and headers).")


def report(results: dict[str, list[Run]], scale: Scale) -> str:
    runs = [run for front_runs in results.values() for run in front_runs]
    disturbed = sum(1 for run in runs
                    if run.neighbours is not None and run.neighbours > BUSY_NEIGHBOURS)
    lines = [*describe(scale), "", *sequential_table(results), "", describe_load(scale), "",
             *concurrent_table(results), "", describe_streams(scale), "",
             *streamed_table(results), "",
             "Targets: " + ("; ".join(verdicts(results)) or "n/a") + "."]
    if disturbed:
        lines += ["", f"Caution: in {disturbed} of {len(runs)} run(s) other processes kept "
                      f"more than {BUSY_NEIGHBOURS} cores busy."]
    return "\n".join(lines)
