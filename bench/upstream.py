"""Upstream gateway overhead: qwenchat and the LiteLLM proxy in front of the same upstream.

One scripted OpenAI-compatible upstream (bench/scripted_upstream.py: a fixed reply of
``--chunks`` pieces, 10-25 µs of CPU a request) is reached four ways, its *fronts*:

- direct: the client talks to the upstream itself (the baseline);
- qwenchat: ``qwenchat serve`` with ``[engine] model = "none"`` and one ``openai``-dialect
  deployment mapping qwen-plus to the upstream, with everything on: keys required (one key),
  per-key and model-wide rpm/tpm windows and the key's token quota (set far above what the
  run uses, so every request is checked and charged and none refused), and the usage ledger
  on SQLite, which must hold one row per request at the end;
- litellm: the LiteLLM proxy (``litellm --config``, one ``openai/fake-model`` entry whose
  ``api_base`` is the upstream) without a database, so without virtual keys, budgets or
  spend logs: it only routes;
- litellm-key: the same with a ``master_key``, the one key LiteLLM checks without a database.

LiteLLM comes from scripts/litellm.sh (a pinned litellm[proxy], plus httptools, in its own
virtual environment) and runs with ``LITELLM_LOG=WARNING`` (no access-log line per request,
as qwenchat at ``--log-level warning``) and a scrubbed environment.

A run is one front on fresh processes (upstream, and the gateway in front): its own
``QWENCHAT_HOME``, database and key, or LiteLLM config. Three phases, in this order:

1. sequential: one keep-alive client, warm-up, then ``--requests`` non-stream requests one
   at a time; latency from sending to the answer's last byte;
2. concurrent: ``--concurrency`` keep-alive clients, warm-up, then ``--concurrent-requests``
   non-stream requests in all, each client sending its next as soon as its last is answered;
   requests/s, and the gateway's CPU (utime + stime from /proc, summed over its process
   tree) ÷ wall time = the cores it used, so requests/s ÷ cores used = requests/s per core;
3. streaming: the upstream waits ``--chunk-delay-ms`` before each chunk (each is its own
   write) and stamps each piece's content with the moment it wrote it (CLOCK_MONOTONIC,
   which every process on the machine shares); ``--streams`` streamed requests with
   ``include_usage``, one at a time, each read as it arrives; a piece's delay is the moment
   the client read it minus its stamp.

The client is bench/rawhttp.py's minimal HTTP/1.1 one on asyncio streams (httpx would cost
several times a gateway's CPU per request on these shared cores); a stream is read raw to
EOF (``Connection: close``) and its stamps found in the bytes. Every answer must be a 200,
every stream must end with ``[DONE]`` and carry every piece, and the upstream must have
answered exactly the requests sent. Fronts alternate within each round (order rotated per
round); tables report medians over rounds, and "added" is the median over rounds of the
difference to ``direct`` in the same round.

Nothing is pinned to a core: with two cores and three busy processes (client, gateway,
upstream) plus the machine's other work, pinning isolates nothing and only stops the
scheduler from moving a process off a busy core.

    .venv/bin/python bench/upstream.py [--requests 2000] [--rounds 3] [--warmup 200]
        [--concurrency 32] [--concurrent-requests 4000] [--streams 100] [--chunks 16]
        [--chunk-delay-ms 5] [--fronts direct,qwenchat,litellm,litellm-key] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import free_port

from bench.gateway import BY_NAME, UNLIMITED_RPM, UNLIMITED_TPM, ledger_rows, make_key, rotated
from bench.processes import descendants, process_cpu, stop
from bench.rawhttp import CHAT_PATH, Connection, drive, exchange, raw_request
from bench.report import write_section
from bench.scripted_upstream import MODEL as UPSTREAM_MODEL
from bench.serving import BUSY_NEIGHBOURS, NeighbourMeter, percentile, verdict, wait_for_quiet
from qwenchat.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FRONTS = ("direct", "qwenchat", "litellm", "litellm-key")
GATEWAYS = FRONTS[1:]
LITELLMS = ("litellm", "litellm-key")
MODEL = "qwen-plus"
STREAM_WARMUP = 10
TARGET_ADDED_MS = 1.0  # added p50 at one client, non-stream
TARGET_PER_CORE = 3.0  # qwenchat's requests/s per core ÷ LiteLLM's
STAMP = re.compile(rb"\[t=(\d+\.\d+)\]")


@dataclass(frozen=True)
class Scale:
    requests: int
    warmup: int
    rounds: int
    concurrency: int
    concurrent_requests: int
    streams: int
    chunks: int
    chunk_delay_ms: float

    def num_sent(self) -> int:
        """Chat requests one run sends (each phase's first, checked alone, included)."""
        return (1 + self.warmup + self.requests + 1 + max(self.warmup, self.concurrency)
                + self.concurrent_requests + STREAM_WARMUP + self.streams)


# --- a run's processes --------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where the client sends chat requests, and the key it sends."""

    port: int
    path: str
    model: str
    secret: str


@dataclass(frozen=True)
class Launch:
    """How to start one gateway."""

    command: list[str]
    env: dict[str, str]
    ready: str  # a URL that answers 200 once the gateway serves
    target: Target
    database_url: str | None = None  # qwenchat's ledger


@dataclass(frozen=True)
class Stack:
    """A run's fresh processes: the upstream, and the gateway in front (none: direct)."""

    upstream: subprocess.Popen[bytes]
    upstream_url: str
    gateway: subprocess.Popen[bytes] | None
    target: Target

    def gateway_pids(self) -> list[int]:
        return descendants(self.gateway.pid) if self.gateway is not None else []


@contextlib.contextmanager
def started(command: list[str], env: dict[str, str], log_path: Path,
            ready: str) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running, once ``ready`` answers 200; stopped afterwards."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 180
            while not _answers(ready):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield process
        except BaseException:
            print(f"  log {log_path}:\n{log_path.read_text()[-3000:]}")
            raise
        finally:
            stop(process)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def stack(front: str, home: Path, scale: Scale, litellm: Path | None) -> Iterator[Stack]:
    home.mkdir(parents=True)
    port = free_port()
    upstream_url = f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as processes:
        upstream = processes.enter_context(started(
            [sys.executable, str(ROOT / "bench" / "scripted_upstream.py"), "--port", str(port),
             "--chunks", str(scale.chunks)],
            dict(os.environ), home / "upstream.log", f"{upstream_url}/v1/models"))
        if front == "direct":
            yield Stack(upstream, upstream_url, None,
                        Target(port, "/v1/chat/completions", UPSTREAM_MODEL, "sk-unused"))
            return
        replica = f"{upstream_url}/v1"
        if front == "qwenchat":
            launch = qwenchat_launch(home, replica)
        else:
            assert litellm is not None
            launch = litellm_launch(home, replica, litellm, with_key=front == "litellm-key")
        gateway = processes.enter_context(started(launch.command, launch.env,
                                                  home / "gateway.log", launch.ready))
        yield Stack(upstream, upstream_url, gateway, launch.target)
    if front == "qwenchat":  # stopped: the ledger has every row it will get
        check_ledger(home, scale)


QWENCHAT_CONFIG = """\
[server]
log_level = "warning"  # no access log line per request

[engine]
model = "none"

[models."{model}"]
rpm = {rpm}
tpm = {tpm}

[deployments.up]
dialect = "openai"
replicas = ["{replica}"]

[deployments.up.models]
"{model}" = "{upstream_model}"
"""


def qwenchat_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWENCHAT_")}
    return env | {"QWENCHAT_HOME": str(home), "QWENCHAT_AUTH": "required",
                  "QWENCHAT_KEY_RPM": str(UNLIMITED_RPM), "QWENCHAT_KEY_TPM": str(UNLIMITED_TPM)}


def qwenchat_launch(home: Path, replica: str) -> Launch:
    """Everything on: keys, limits (never refusing), the ledger on SQLite."""
    config = home / "qwenchat.toml"
    config.write_text(QWENCHAT_CONFIG.format(model=MODEL, upstream_model=UPSTREAM_MODEL,
                                             replica=replica, rpm=UNLIMITED_RPM,
                                             tpm=UNLIMITED_TPM))
    env = qwenchat_env(home)
    database_url = Settings.load(config, env=env).database_url()
    secret = make_key(BY_NAME["on-sqlite"], database_url)  # its own limits, never refusing
    port = free_port()
    command = [str(Path(sys.executable).with_name("qwenchat")), "serve", "--config",
               str(config), "--port", str(port), "--log-level", "warning"]
    return Launch(command, env, f"http://127.0.0.1:{port}/health",
                  Target(port, CHAT_PATH, MODEL, secret), database_url)


def check_ledger(home: Path, scale: Scale) -> None:
    config = home / "qwenchat.toml"
    rows = ledger_rows(Settings.load(config, env=qwenchat_env(home)).database_url())
    if rows != scale.num_sent():
        raise RuntimeError(f"qwenchat: {rows} ledger rows for {scale.num_sent()} requests")


def litellm_launch(home: Path, replica: str, litellm: Path, with_key: bool) -> Launch:
    """The proxy without a database; ``with_key``: a master key it checks."""
    config = home / "litellm.yaml"
    lines = ["model_list:", f"  - model_name: {MODEL}", "    litellm_params:",
             f"      model: openai/{UPSTREAM_MODEL}", f"      api_base: {replica}",
             "      api_key: sk-upstream-unused"]
    secret = f"sk-{secrets.token_hex(32)}" if with_key else "sk-unused"
    if with_key:
        lines += ["general_settings:", f"  master_key: {secret}"]
    config.write_text("\n".join(lines) + "\n")
    # Only what it needs: no credentials of this machine's user, no cost map from the network.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LANG": "C.UTF-8", "LITELLM_LOG": "WARNING", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    if not with_key:  # it refuses to start without a master key unless told this
        env["LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY"] = "true"
    port = free_port()
    command = [str(litellm), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    return Launch(command, env, f"http://127.0.0.1:{port}/health/liveliness",
                  Target(port, "/v1/chat/completions", MODEL, secret))


def litellm_binary() -> Path:
    """The pinned LiteLLM proxy (installed on first use by scripts/litellm.sh)."""
    output = subprocess.run(["bash", str(ROOT / "scripts" / "litellm.sh")], check=True,
                            capture_output=True, text=True)
    return Path(output.stdout.strip().splitlines()[-1])


# --- the phases ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    """One phase of a run."""

    values: tuple[float, ...]  # seconds: each request's latency, or each streamed piece's delay
    num_requests: int
    wall: float  # seconds
    gateway_cpu: float  # seconds, the gateway's process tree
    upstream_cpu: float  # seconds
    client_cpu: float  # seconds, this process
    firsts: tuple[float, ...] = ()  # streams: each stream's first piece's delay

    def metrics(self) -> dict[str, float]:
        """Latencies in ms, requests/s, cores, CPU in µs per request (per piece: ``chunk``)."""
        ms = [value * 1000 for value in self.values]
        n = self.num_requests
        return {"p50": percentile(ms, 0.5) or 0.0, "p99": percentile(ms, 0.99) or 0.0,
                "mean": statistics.fmean(ms), "rps": n / self.wall,
                "cores": self.gateway_cpu / self.wall,
                "per_core": n / self.gateway_cpu if self.gateway_cpu else 0.0,
                "gateway": self.gateway_cpu / n * 1e6, "upstream": self.upstream_cpu / n * 1e6,
                "client": self.client_cpu / n * 1e6,
                "chunk": self.gateway_cpu / len(self.values) * 1e6,
                "first": (percentile([v * 1000 for v in self.firsts], 0.5) or 0.0)}


class Meter:
    """Wall time and the CPU of the gateway, the upstream and this client over one phase."""

    def __init__(self, running: Stack) -> None:
        self._stack = running
        self._pids = running.gateway_pids()
        self._start = self._sample(self._pids)

    def _sample(self, pids: Sequence[int]) -> tuple[float, float, float, float]:
        return (time.perf_counter(), process_cpu(pids), process_cpu([self._stack.upstream.pid]),
                time.process_time())

    def stop(self, values: Sequence[float], num_requests: int,
             firsts: Sequence[float] = ()) -> Phase:
        pids = sorted(set(self._pids) | set(self._stack.gateway_pids()))  # workers started since
        end = self._sample(pids)
        wall, gateway, upstream, client = (b - a for a, b in zip(self._start, end, strict=True))
        return Phase(tuple(values), num_requests, wall, gateway, upstream, client, tuple(firsts))


def chat_request(target: Target, stream: bool) -> bytes:
    body: dict[str, object] = {"model": target.model, "max_tokens": 64, "temperature": 0,
                               "messages": [{"role": "user", "content": "Hi!"}]}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return raw_request(target.port, target.secret, body, path=target.path, close=stream)


async def connect(target: Target, count: int) -> list[Connection]:
    return [await asyncio.open_connection("127.0.0.1", target.port) for _ in range(count)]


async def first_answer(connection: Connection, request: bytes) -> None:
    answer = json.loads(await exchange(connection, request))
    if not answer.get("choices") or not answer["choices"][0]["message"].get("content"):
        raise RuntimeError(f"an answer without content: {answer!r:.300}")


async def sequential(running: Stack, scale: Scale) -> Phase:
    request = chat_request(running.target, stream=False)
    connections = await connect(running.target, 1)
    try:
        await first_answer(connections[0], request)
        await drive(connections, request, scale.warmup)
        meter = Meter(running)
        latencies = await drive(connections, request, scale.requests)
        return meter.stop(latencies, scale.requests)
    finally:
        connections[0][1].close()


async def concurrent(running: Stack, scale: Scale) -> Phase:
    request = chat_request(running.target, stream=False)
    connections = await connect(running.target, scale.concurrency)
    try:
        await first_answer(connections[0], request)
        await drive(connections, request, max(scale.warmup, scale.concurrency))
        meter = Meter(running)
        latencies = await drive(connections, request, scale.concurrent_requests)
        return meter.stop(latencies, scale.concurrent_requests)
    finally:
        for _, writer in connections:
            writer.close()


async def stream_once(target: Target, request: bytes, num_chunks: int) -> list[float]:
    """One streamed request on its own connection, read raw to EOF; each piece's delay."""
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    reads: list[tuple[float, bytes]] = []
    try:
        writer.write(request)
        while data := await reader.read(65536):
            reads.append((time.monotonic(), data))
    finally:
        writer.close()
    return piece_delays(reads, num_chunks)


def piece_delays(reads: Sequence[tuple[float, bytes]], num_chunks: int) -> list[float]:
    """Each stamped piece's delay: when the read holding its stamp returned, minus the stamp."""
    text = b"".join(data for _, data in reads)
    if not text.startswith(b"HTTP/1.1 200") or b"data: [DONE]" not in text:
        raise RuntimeError(f"not a whole stream: {text[:300]!r} ... {text[-200:]!r}")
    ends = list(itertools.accumulate(len(data) for _, data in reads))
    delays = [reads[bisect.bisect_left(ends, match.end())][0] - float(match[1])
              for match in STAMP.finditer(text)]
    if len(delays) != num_chunks:
        raise RuntimeError(f"{len(delays)} stamped pieces of {num_chunks}: {text[:500]!r}")
    return delays


async def streamed(running: Stack, scale: Scale) -> Phase:
    request = chat_request(running.target, stream=True)
    for _ in range(STREAM_WARMUP):
        await stream_once(running.target, request, scale.chunks)
    meter = Meter(running)
    delays: list[float] = []
    firsts: list[float] = []
    for _ in range(scale.streams):
        pieces = await stream_once(running.target, request, scale.chunks)
        delays += pieces
        firsts.append(pieces[0])
    return meter.stop(delays, scale.streams, firsts)


# --- runs and rounds ----------------------------------------------------------------------


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


def interleave(fronts: Sequence[str], scale: Scale, workdir: Path,
               litellm: Path | None) -> dict[str, list[Run]]:
    """Every front once per round on fresh processes, the order rotated every round."""
    results: dict[str, list[Run]] = {front: [] for front in fronts}
    for round_no in range(scale.rounds):
        for front in rotated(fronts, round_no):
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


# --- the tables ---------------------------------------------------------------------------

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
        f"upstream (bench/scripted_upstream.py: a fixed {scale.chunks}-piece reply, 10–25 "
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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="one client, per run")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--concurrent-requests", type=int, default=4000,
                        help="measured requests per run under concurrency, all clients together")
    parser.add_argument("--streams", type=int, default=100, help="streamed requests per run")
    parser.add_argument("--chunks", type=int, default=16, help="content pieces per reply")
    parser.add_argument("--chunk-delay-ms", type=float, default=5.0,
                        help="the upstream's wait before each streamed chunk")
    parser.add_argument("--fronts", default=",".join(FRONTS),
                        help=f"comma-separated subset of {','.join(FRONTS)}")
    parser.add_argument("--write", action="store_true", help="write the tables to BENCHMARKS.md")
    args = parser.parse_args()
    fronts = [front for front in FRONTS if front in args.fronts.split(",")]
    unknown = set(args.fronts.split(",")) - set(FRONTS)
    if unknown:
        parser.error(f"unknown fronts: {', '.join(sorted(unknown))}")
    scale = Scale(args.requests, args.warmup, args.rounds, args.concurrency,
                  args.concurrent_requests, args.streams, args.chunks, args.chunk_delay_ms)
    litellm = litellm_binary() if set(fronts) & set(LITELLMS) else None
    workdir = Path(tempfile.mkdtemp(prefix="qwenchat-upstream-"))
    results = interleave(fronts, scale, workdir, litellm)
    body = report(results, scale)
    print(f"\n{body}\n\nLogs: {workdir}")
    if args.write:
        command = (f".venv/bin/python bench/upstream.py --requests {args.requests} "
                   f"--rounds {args.rounds} --warmup {args.warmup} --concurrency "
                   f"{args.concurrency} --concurrent-requests {args.concurrent_requests} "
                   f"--streams {args.streams} --chunks {args.chunks} --chunk-delay-ms "
                   f"{args.chunk_delay_ms:g}"
                   + ("" if fronts == list(FRONTS) else f" --fronts {','.join(fronts)}")
                   + " --write")
        write_section("Upstream gateway overhead", command, body)


if __name__ == "__main__":
    main()
