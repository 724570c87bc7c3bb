"""Serving benchmark: `qwenchat serve` vs llama-server vs llama-cpp-python's server.

All three serve the same GGUF over the OpenAI chat API with the same llama.cpp thread count
(and, where they batch, the same slot count), and are driven by the same streaming HTTP
client: greedy, end of generation banned (``logit_bias``) so every completion produces
exactly the tokens asked for. Four workloads, each selectable:

- single: one stream at a time; decode tokens/s and prefill tokens/s (~1000-token prompt).
- concurrency: 1, 2, 4, 8 clients sending requests back to back; aggregate tokens/s and
  TTFT percentiles, plus qwenchat's own ``overhead_fraction`` from ``/health``.
- multiturn: 8 users × 6 turns over a shared ~300-token system prompt; TTFT per turn for
  qwenchat (exact reuse, the default), qwenchat reusing generated tokens too
  (``QWENCHAT_PREFIX_CACHE=full``), qwenchat without prefix reuse (``off``) and llama-server.
- roofline: numpy memory bandwidth ÷ GGUF size = a decode ceiling; each engine's
  single-stream decode as a share of it.

qwenchat runs twice where speed is compared: as configured by default (flash attention off,
for batch-invariant outputs) and with ``QWENCHAT_FLASH_ATTENTION=true``.

Every server runs alone on a fresh process per (workload, round, engine); engines alternate
within each round (order rotated every round) because these machines drift ±15% over
minutes, and the tables report medians over rounds and qwenchat ÷ peer ratios. Each
workload's table goes into BENCHMARKS.md (not with ``--quick``, a smoke run that only
prints). Server logs stay in a temporary directory, printed at the end.

llama-server comes from ``scripts/llama_server.sh`` (same llama.cpp commit as
qwenchat). llama-cpp-python's server needs its extras, installed into .venv with
``.venv/bin/python -m pip install sse-starlette starlette-context pydantic-settings``; it is
started with ``--interrupt_requests False`` (by default a new request cancels the stream in
progress, which breaks concurrent clients) and serves one request at a time.

    .venv/bin/python bench/serving.py [--model PATH] [--rounds 3] [--quick]
        [--workloads single,concurrency,multiturn,roofline]
        [--threads 2] [--slots 4] [--context-size 2048] [--tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import free_port

from bench.report import write_section
from qwenchat.catalog import resolve_model_file
from qwenchat.settings import default_home

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")
Messages = list[dict[str, str]]

WORKLOADS = ("single", "concurrency", "multiturn", "roofline")
REQUEST_TIMEOUT = 600.0
BUSY_NEIGHBOURS = 0.2  # cores used by other processes beyond which a run is flagged
SERIAL_MAX_CLIENTS = 4  # llama-cpp-python's server serves one request at a time
DEFAULT_SYSTEM = "You are a helpful assistant."  # explicit, so every template renders alike
DECODE_PROMPT = "Write a long story about a dragon who learns to fly."
WORDS = (
    "river", "stone", "lantern", "garden", "copper", "window", "harvest", "signal", "meadow",
    "orbit", "silver", "engine", "thunder", "market", "pencil", "island", "bridge", "canyon",
    "ember", "forest", "glacier", "harbor", "journal", "kettle", "ladder", "marble", "needle",
    "orchard", "pillow", "quarry", "ribbon", "saddle", "timber", "valley", "wagon", "anchor",
)
RULES = (
    "Greet the customer by name when they give one.",
    "Answer questions about opening hours, returns and deliveries.",
    "Never promise a refund before checking the receipt date.",
    "Suggest the cheapest tool that does the job.",
    "Ask one clarifying question when a request is ambiguous.",
    "Keep every answer under one hundred words.",
    "Recommend safety gear for any power tool.",
    "Do not discuss competitors' prices.",
)


@dataclass(frozen=True)
class Config:
    """What every server is started with."""

    model: Path
    threads: int
    slots: int
    context_size: int
    eos_token_id: int
    llama_server: Path
    workdir: Path


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


# --- servers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    """One server under test: how to start it, when it is ready, how to call it."""

    name: str
    command: Callable[[Config, int], list[str]]
    ready_path: str
    model_id: str = "benchmark"
    env: tuple[tuple[str, str], ...] = ()
    serial: bool = False  # serves one request at a time


def _qwenchat_command(config: Config, port: int) -> list[str]:
    return [str(Path(sys.executable).with_name("qwenchat")), "serve",
            "--model", str(config.model), "--port", str(port),
            "--threads", str(config.threads), "--slots", str(config.slots),
            "--context-size", str(config.context_size)]


def _llama_server_command(config: Config, port: int) -> list[str]:
    threads = str(config.threads)
    return [str(config.llama_server), "-m", str(config.model), "--port", str(port),
            "-t", threads, "-tb", threads, "-np", str(config.slots),
            "-c", str(config.context_size * config.slots), "--no-webui"]


def _llama_cpp_python_command(config: Config, port: int) -> list[str]:
    threads = str(config.threads)
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(config.model),
            "--port", str(port), "--n_threads", threads, "--n_threads_batch", threads,
            "--n_ctx", str(config.context_size), "--interrupt_requests", "False"]


QWENCHAT = Engine("qwenchat", _qwenchat_command, "/health", model_id="qwen-plus")
QWENCHAT_FULL_REUSE = Engine("qwenchat (full reuse)", _qwenchat_command, "/health",
                             model_id="qwen-plus", env=(("QWENCHAT_PREFIX_CACHE", "full"),))
QWENCHAT_NO_REUSE = Engine("qwenchat (no reuse)", _qwenchat_command, "/health",
                           model_id="qwen-plus", env=(("QWENCHAT_PREFIX_CACHE", "off"),))
LLAMA_SERVER = Engine("llama-server", _llama_server_command, "/health")
LLAMA_CPP_PYTHON = Engine("llama-cpp-python", _llama_cpp_python_command, "/v1/models",
                          serial=True)
QWENCHAT_FLASH = Engine("qwenchat (flash attention)", _qwenchat_command, "/health",
                        model_id="qwen-plus", env=(("QWENCHAT_FLASH_ATTENTION", "true"),))
PEERS = (QWENCHAT, QWENCHAT_FLASH, LLAMA_SERVER, LLAMA_CPP_PYTHON)


class Server:
    """One engine's server process on a free port, logging to a file in the work dir."""

    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine = engine
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root}/v1"
        slug = engine.name.replace(" ", "-").strip("()")
        self.log_path = config.workdir / f"{slug}-{self.port}.log"
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("QWENCHAT_")}
        env.update({"QWENCHAT_HOME": str(config.workdir / "home"), **dict(engine.env)})
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(engine.command(config, self.port), stdout=self._log,
                                        stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.engine.name} exited:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.root + self.engine.ready_path, timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.engine.name} not ready after {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        finally:
            self._log.close()

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def serving(engine: Engine, config: Config) -> Iterator[Server]:
    """A ready server for ``engine``, always stopped afterwards."""
    server = Server(engine, config)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


# --- the client ----------------------------------------------------------------------------

_oddities: Counter[str] = Counter()


def note(message: str) -> None:
    """Remember something unexpected about a server's replies (printed once, then counted)."""
    if not _oddities[message]:
        print(f"  note: {message}")
    _oddities[message] += 1


@dataclass
class Reply:
    """One streamed completion as the client saw it."""

    started: float
    first: float | None = None
    last: float | None = None
    tokens: int = 0  # chunks with non-empty delta.content
    pieces: list[str] = field(default_factory=list)
    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def ttft(self) -> float:
        if self.first is None:
            raise RuntimeError("the stream carried no content")
        return self.first - self.started

    @property
    def decode_rate(self) -> float:
        """Tokens after the first ÷ time from the first to the last."""
        if self.first is None or self.last is None or self.last <= self.first:
            raise RuntimeError(f"too few tokens to time decoding ({self.tokens})")
        return (self.tokens - 1) / (self.last - self.first)


def _absorb(reply: Reply, chunk: dict[str, Any]) -> None:
    if "error" in chunk:
        raise RuntimeError(f"error event in the stream: {chunk['error']}")
    for choice in chunk.get("choices") or []:
        content = (choice.get("delta") or {}).get("content")
        if content:
            now = time.perf_counter()
            reply.first = reply.first or now
            reply.last = now
            reply.tokens += 1
            reply.pieces.append(content)
    usage = chunk.get("usage")
    if usage:
        reply.prompt_tokens = usage.get("prompt_tokens")
        reply.completion_tokens = usage.get("completion_tokens")
        reply.cached_tokens = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    timings = chunk.get("timings")  # llama-server
    if timings and reply.cached_tokens is None:
        reply.cached_tokens = timings.get("cache_n")


def _check(reply: Reply, engine: Engine, max_tokens: int) -> None:
    if reply.tokens != max_tokens:
        note(f"{engine.name}: {reply.tokens} content chunks for max_tokens={max_tokens}")
    if reply.completion_tokens is not None and reply.completion_tokens != max_tokens:
        note(f"{engine.name}: usage.completion_tokens={reply.completion_tokens} for "
             f"max_tokens={max_tokens}")


async def stream_chat(client: httpx.AsyncClient, server: Server, messages: Messages,
                      max_tokens: int, eos_token_id: int) -> Reply:
    """Stream one greedy chat completion of exactly ``max_tokens`` tokens."""
    body = {"model": server.engine.model_id, "messages": messages, "max_tokens": max_tokens,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True},
            "logit_bias": {str(eos_token_id): -100}}
    reply = Reply(started=time.perf_counter())
    async with client.stream("POST", f"{server.base_url}/chat/completions",
                             json=body) as response:
        if response.status_code != 200:
            detail = (await response.aread()).decode(errors="replace")[:300]
            raise RuntimeError(f"{server.engine.name}: HTTP {response.status_code}: {detail}")
        async for line in response.aiter_lines():
            payload = line[5:].strip() if line.startswith("data:") else ""
            if payload == "[DONE]":
                break
            if payload:
                _absorb(reply, json.loads(payload))
    _check(reply, server.engine, max_tokens)
    return reply


def run_client(work: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run ``work`` on one event loop with one connection pool (cheap for the client's CPU)."""
    async def main() -> T:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, limits=limits) as client:
            return await work(client)
    return asyncio.run(main())


def chat_once(server: Server, messages: Messages, max_tokens: int, eos: int) -> Reply:
    return run_client(lambda client: stream_chat(client, server, messages, max_tokens, eos))


def engine_health(server: Server) -> dict[str, Any]:
    """qwenchat's /health ``engines`` metrics, summed over its engines (one model here)."""
    engines = httpx.get(f"{server.root}/health", timeout=10).json().get("engines") or {}
    if len(engines) != 1:
        note(f"{server.engine.name}: /health lists {len(engines)} engines")
    return next(iter(engines.values()), {})


# --- prompts -------------------------------------------------------------------------------


class Tokenizer:
    """The model's vocabulary and chat template, to size prompts and count their tokens."""

    def __init__(self, model: Path) -> None:
        from llama_cpp import Llama

        from qwenchat.chat import ChatTemplate

        self._llama = Llama(model_path=str(model), n_ctx=256, vocab_only=True, verbose=False)
        self._template = ChatTemplate(self._llama.metadata.get("tokenizer.chat_template"))

    def count_text(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode(), add_bos=False, special=False))

    def count_prompt(self, messages: Messages) -> int:
        from qwenchat.core import Message, Role

        rendered = self._template.render([Message(Role(m["role"]), m["content"])
                                          for m in messages])
        return len(self._llama.tokenize(rendered.encode(), add_bos=False, special=True))

    def filler(self, target: int, rng: random.Random, prefix: str = "") -> str:
        """``prefix`` plus words until the text is at least ``target`` tokens."""
        text = prefix
        while self.count_text(text) < target:
            text += " " + " ".join(rng.choice(WORDS) for _ in range(8))
        return text.strip()

    def system_prompt(self, target: int) -> str:
        """A fixed numbered list of rules of about ``target`` tokens."""
        lines = ["You are the assistant of a hardware store. Follow these rules:"]
        while self.count_text("\n".join(lines)) < target:
            number = len(lines)
            lines.append(f"{number}. {RULES[(number - 1) % len(RULES)]} "
                         f"(handbook section {number})")
        return "\n".join(lines)


def chat(user: str, system: str = DEFAULT_SYSTEM) -> Messages:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# --- load from other processes -------------------------------------------------------------


class NeighbourMeter:
    """CPU used by processes other than the server under test and this client, from /proc
    (Linux): a busy neighbour slows llama.cpp far more than its share of the cores."""

    def __init__(self, server_pid: int | None = None) -> None:
        self._pid = server_pid
        self._start = self._sample()

    @staticmethod
    def _machine_busy() -> float:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        ticks = [int(value) for value in fields]
        idle = ticks[3] + ticks[4]  # idle, iowait
        return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def _process_busy(self) -> float:
        if self._pid is None:
            return 0.0
        fields = Path(f"/proc/{self._pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _sample(self) -> tuple[float, float, float, float] | None:
        try:
            return (time.perf_counter(), self._machine_busy(), self._process_busy(),
                    time.process_time())
        except (OSError, ValueError, IndexError):
            return None

    def cores(self) -> float | None:
        """Average cores the neighbours kept busy since the meter started."""
        end = self._sample()
        if self._start is None or end is None:
            return None
        wall, machine, server, client = (b - a for a, b in zip(self._start, end, strict=True))
        return max(0.0, machine - server - client) / wall


def wait_for_quiet(limit: float) -> None:
    """Wait (up to ``limit`` seconds) until other processes leave the cores alone."""
    deadline = time.monotonic() + limit
    waited = False
    while True:
        meter = NeighbourMeter()
        time.sleep(1.0)
        cores = meter.cores()
        if cores is None or cores < BUSY_NEIGHBOURS:
            break
        if time.monotonic() > deadline:
            note(f"the machine stayed busy ({cores:.2f} cores) for {limit:.0f} s; going on")
            break
        if not waited:
            print(f"  waiting for other processes to stop ({cores:.2f} cores busy)")
            waited = True


# --- running rounds ------------------------------------------------------------------------


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
    for round_no in range(bench.scale.rounds):
        shift = round_no % len(engines)
        for engine in [*engines[shift:], *engines[:shift]]:
            print(f"[{workload}] round {round_no + 1}/{bench.scale.rounds}: {engine.name}")
            wait_for_quiet(bench.scale.quiet_wait)
            try:
                with serving(engine, bench.config) as server:
                    chat_once(server, chat("Warm up."), 8, bench.config.eos_token_id)
                    meter = NeighbourMeter(server.process.pid)
                    results[engine.name].append(measure(server, round_no))
                    neighbours = meter.cores()
                    if neighbours is not None and neighbours > BUSY_NEIGHBOURS:
                        bench.disturbed[workload] += 1
                        note(f"{engine.name}, {workload} round {round_no + 1}: other processes "
                             f"kept {neighbours:.2f} cores busy; its numbers are disturbed")
            except Exception as exc:
                note(f"{engine.name} failed in {workload}: {exc}")
    return results


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile, ``q`` in [0, 1]."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "**not met**")


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


# --- workloads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One workload's part of BENCHMARKS.md."""

    title: str
    body: str


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


def user_message(bench: Bench, user: int, turn: int) -> str:
    rng = random.Random(f"user-{user}-turn-{turn}")
    return bench.tokenizer.filler(bench.scale.request_tokens, rng,
                                  f"I am customer {user}, this is my message {turn}.")


def run_multiturn(bench: Bench) -> Section:
    scale = bench.scale
    system = bench.tokenizer.system_prompt(scale.system_tokens)
    system_tokens = bench.tokenizer.count_text(system)
    messages = {(u, t): user_message(bench, u, t)
                for u in range(scale.users) for t in range(1, scale.turns + 1)}
    eos = bench.config.eos_token_id

    async def converse(client: httpx.AsyncClient, server: Server, user: int) -> list[Reply]:
        history: Messages = [{"role": "system", "content": system}]
        replies = []
        for turn in range(1, scale.turns + 1):
            history.append({"role": "user", "content": messages[user, turn]})
            reply = await stream_chat(client, server, history, scale.reply_tokens, eos)
            history.append({"role": "assistant", "content": reply.text})
            replies.append(reply)
        return replies

    def measure(server: Server, _round: int) -> list[list[Reply]]:
        async def everyone(client: httpx.AsyncClient) -> list[list[Reply]]:
            return list(await asyncio.gather(*(converse(client, server, user)
                                               for user in range(scale.users))))
        users = run_client(everyone)
        turns = [statistics.median(u[t].ttft for u in users) * 1000 for t in range(scale.turns)]
        print("  median TTFT ms by turn: " + ", ".join(f"{ms:.0f}" for ms in turns))
        return users

    engines = (QWENCHAT, QWENCHAT_FULL_REUSE, QWENCHAT_NO_REUSE, LLAMA_SERVER)
    results = interleave(bench, engines, "multiturn", measure)
    first_prompt = bench.tokenizer.count_prompt(
        [{"role": "system", "content": system}, {"role": "user", "content": messages[0, 1]}])
    reported = [users[0][0].prompt_tokens for users in results[QWENCHAT.name]]
    print(f"  system prompt: {system_tokens} tokens; turn-1 prompt: {first_prompt} by the "
          f"model's template, {reported} by qwenchat's usage")
    return Section("Serving: multi-turn prefix reuse",
                   _multiturn_body(bench, results, system_tokens))


def _multiturn_body(bench: Bench, results: dict[str, list[list[list[Reply]]]],
                    system_tokens: int) -> str:
    turns = range(bench.scale.turns)

    def replies_at(name: str, turn: int) -> list[Reply]:
        return [user[turn] for run in results[name] for user in run]

    def ttft(name: str, turn: int) -> float | None:
        return median([r.ttft * 1000 for r in replies_at(name, turn)])

    def cached(name: str, turn: int) -> float | None:
        values = [r.cached_tokens for r in replies_at(name, turn) if r.cached_tokens is not None]
        return statistics.fmean(values) if values else None

    names = list(results)
    rows = ["| turn | " + " | ".join(f"{n} TTFT ms" for n in names) + " | "
            + " | ".join(f"{n} mean cached tokens" for n in names) + " |",
            "|---" * (2 * len(names) + 1) + "|"]
    for turn in turns:
        rows.append(f"| {turn + 1} | " + " | ".join(fmt(ttft(n, turn), 0) for n in names)
                    + " | " + " | ".join(fmt(cached(n, turn), 0) for n in names) + " |")
    last = turns[-1]
    growth = {n: ratio(ttft(n, last), ttft(n, 0)) for n in names}
    speedup = ratio(ttft(QWENCHAT_NO_REUSE.name, last), ttft(QWENCHAT.name, last))
    qwen_growth = growth[QWENCHAT.name]
    growth_met = None if qwen_growth is None else qwen_growth <= 1.0
    speedup_met = None if speedup is None else speedup >= 3.0
    scale = bench.scale
    return "\n".join([
        setup_line(bench, f" {scale.users} users run concurrently, each {scale.turns} turns "
                          f"in sequence over a shared {system_tokens}-token system prompt; a "
                          f"turn adds a unique ~{scale.request_tokens}-token user message and "
                          f"the previous {scale.reply_tokens}-token replies. TTFT: median over "
                          "users and rounds."),
        "", *rows, "",
        f"Turn {last + 1} ÷ turn 1 TTFT: "
        + ", ".join(f"{n} {fmt(growth[n], 2)}" for n in names)
        + f". No reuse ÷ reuse at turn {last + 1}: **{fmt(speedup, 2)}×**.",
        "",
        f"Targets: qwenchat turn {last + 1} no slower than turn 1: {verdict(growth_met)}; "
        f"≥ 3× faster than without reuse at turn {last + 1}: {verdict(speedup_met)}.",
    ])


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


RUNNERS: dict[str, Callable[[Bench], Section]] = {
    "single": run_single, "concurrency": run_concurrency,
    "multiturn": run_multiturn, "roofline": run_roofline,
}


# --- main ----------------------------------------------------------------------------------


def llama_server_binary() -> Path:
    """The cached llama-server binary (built on first use by scripts/llama_server.sh)."""
    script = ROOT / "scripts" / "llama_server.sh"
    output = subprocess.run(["bash", str(script)], check=True, capture_output=True, text=True)
    return Path(output.stdout.strip().splitlines()[-1])


def section_title(title: str, config: Config, model_arg: str | None) -> str:
    """``title`` qualified by thread count (and model, when not the starter), so runs with
    other settings get their own BENCHMARKS.md sections."""
    threads = f"{config.threads} thread" + ("s" if config.threads != 1 else "")
    return f"{title} ({threads}{', ' + config.model.stem if model_arg else ''})"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", type=Path, default=None,
                        help="GGUF file [default: the starter model]")
    parser.add_argument("--workloads", default=",".join(WORKLOADS),
                        help=f"comma-separated subset of {','.join(WORKLOADS)}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--context-size", type=int, default=2048)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--eos-token-id", type=int, default=2,
                        help="banned with logit_bias so every completion runs to max_tokens "
                             "[default: 2, the starter's <|im_end|>]")
    parser.add_argument("--llama-server", type=Path, default=None,
                        help="llama-server binary [default: from scripts/llama_server.sh]")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: one round, fewer tokens and users; prints only")
    args = parser.parse_args()
    unknown = set(args.workloads.split(",")) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    return args


def main() -> None:
    args = parse_args()
    workloads = [w for w in WORKLOADS if w in args.workloads.split(",")]
    model = args.model or resolve_model_file("starter", default_home(), say=print)
    workdir = Path(tempfile.mkdtemp(prefix="qwenchat-serving-"))
    (workdir / "home").mkdir()
    config = Config(model=model.resolve(), threads=args.threads, slots=args.slots,
                    context_size=args.context_size, eos_token_id=args.eos_token_id,
                    llama_server=args.llama_server or llama_server_binary(), workdir=workdir)
    scale = Scale(rounds=args.rounds, tokens=args.tokens)
    bench = Bench(config, scale.quick() if args.quick else scale, Tokenizer(config.model))
    for workload in workloads:
        section = RUNNERS[workload](bench)
        if bench.disturbed[workload]:
            section = replace(section, body=section.body + (
                f"\n\nCaution: in {bench.disturbed[workload]} server run(s) other processes "
                f"kept more than {BUSY_NEIGHBOURS} cores busy; rerun on a quiet machine."))
        title = section_title(section.title, config, args.model)
        print(f"\n## {title}\n\n{section.body}\n")
        if not args.quick:
            write_section(title, command_line(workload, bench, args.model), section.body)
    if _oddities:
        print("Notes (count):")
        for message, count in _oddities.most_common():
            print(f"  {count}× {message}")
    print(f"Server logs: {workdir}")


if __name__ == "__main__":
    main()
