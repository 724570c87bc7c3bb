"""Gateway benchmark: what API keys, rate limits and the usage ledger add to each request.

The same chat requests go to servers that differ only in what the gateway does, so the
differences in latency and CPU are the gateway's. To keep token generation (10-100 ms and
noisy on 2 cores) out of the numbers, these servers answer from a scripted ChatService: the
real catalog, request checks and gateway calls (``admit`` with 20 prompt tokens), then four
ContentDeltas, a Finish and the Usage, with no model behind them. Configurations:

- off: auth none, no limits, a ledger that records nothing (the baseline; the Prometheus
  metrics stay, they cannot be turned off);
- auth: keys required (one key, no limits), no ledger;
- auth-limits: plus per-key and model-wide rpm/tpm windows and the key's token quota, set
  far above what the run uses, so every request is checked and charged and none refused;
- ledger-sqlite: the SQLite ledger alone (auth none, no limits);
- on-sqlite, on-postgres, on-sqlite-redis: everything on, the ledger on SQLite or
  PostgreSQL, the rate-limit counters in process or in Redis;
- engine-on-sqlite: everything on in front of the real engine (``qwenchat serve``, starter
  model, one-token completions), for the scale of a real request.

Each server runs fresh (its own ``QWENCHAT_HOME``, database and key) as a subprocess: this
script's ``serve`` command, or ``qwenchat serve`` for the engine. One keep-alive client
warms it up, then sends N non-stream requests, then N streamed ones (``include_usage``), one
at a time. Latency is the client's time from sending to the response's last byte; server
CPU is the server process's utime + stime from /proc over each phase ÷ requests, and
database CPU the same for the PostgreSQL or Redis processes. Every response must be a 200,
and an ``on`` run's ledger must hold one row per request before the server stops.
Configurations alternate within each round (order rotated per round, fresh servers); the
table reports medians over rounds, and "added" is the median over rounds of the
difference to ``off`` in the same round. Servers log at ``warning`` (no access-log line per
request); their logs stay in a temporary directory. Last, to see where the ledger's time
goes, one row's commit is timed alone from this script: a bare insert + commit, and the same
through ``Ledger.record``.

A lone sequential client cannot show the ledger's group commit (the writer commits every row
waiting in one transaction), so each round also runs off, on-sqlite, on-postgres and
on-sqlite-redis on fresh servers under ``--concurrency`` clients: one keep-alive connection
each, warm-up, then ``--concurrent-requests`` non-stream requests in all, each client sending
its next as soon as its last is answered. Reported: requests/s, its ratio to ``off`` in the
same round, p50/p99 latency, server, database and client CPU per request, and rows per
ledger commit (the server answers ``Ledger.num_commits`` over a pipe before and after the
phase). The client speaks minimal HTTP/1.1 on asyncio streams: httpx.AsyncClient costs
several times the server's CPU per request, and the client shares the cores.

PostgreSQL and Redis come from tests/services.py (scripts/services.sh installs them); the
PostgreSQL cluster runs with its default durability (``fsync``, ``synchronous_commit``).

    .venv/bin/python bench/gateway.py [--requests 2000] [--rounds 3] [--warmup 200]
        [--engine-requests 200] [--concurrency 32] [--concurrent-requests 4000]
        [--configs off,auth,...] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import redis
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.services import PostgresServer, RedisServer
from tests.support import free_port

from bench.processes import children, process_cpu, stop
from bench.rawhttp import drive, exchange, raw_request
from bench.report import write_section
from bench.serving import NeighbourMeter, percentile, verdict, wait_for_quiet
from qwenchat.api import serve_forever
from qwenchat.catalog import Catalog, Deployment, resolve_model_file
from qwenchat.core import ChatEvent, ContentDelta, Finish, FinishReason, Usage
from qwenchat.engine import EngineHealth
from qwenchat.gateway import Gateway, KeyStore, Ledger, UsageRow, open_database
from qwenchat.gateway.tables import usage
from qwenchat.gateway.usage_report import usage_totals
from qwenchat.service import Admit, BackendStatus, ChatService, RoutedChat
from qwenchat.settings import Settings, default_home

PROMPT_TOKENS = 20
REPLY = ("Hello", " there", ", how", " are you?")
UNLIMITED_RPM, UNLIMITED_TPM, QUOTA_TOKENS = 10**7, 10**9, 10**12
MODEL = "qwen-plus"
BUSY_NEIGHBOURS = 0.2  # cores used by other processes beyond which a run is flagged
TARGET_MS = 1.0  # issue 6: under 1 ms p50 added with everything on
MODES = ("non-stream", "stream")
T = TypeVar("T")


@dataclass(frozen=True)
class Setup:
    """One server configuration under test."""

    name: str
    auth: bool = False
    limits: bool = False
    ledger: str = ""  # "", "sqlite" or "postgres"
    redis: bool = False
    engine: bool = False  # the real llama.cpp engine behind `qwenchat serve`


SETUPS = (
    Setup("off"),
    Setup("auth", auth=True),
    Setup("auth-limits", auth=True, limits=True),
    Setup("ledger-sqlite", ledger="sqlite"),
    Setup("on-sqlite", auth=True, limits=True, ledger="sqlite"),
    Setup("on-postgres", auth=True, limits=True, ledger="postgres"),
    Setup("on-sqlite-redis", auth=True, limits=True, ledger="sqlite", redis=True),
    Setup("engine-on-sqlite", auth=True, limits=True, ledger="sqlite", engine=True),
)
BY_NAME = {setup.name: setup for setup in SETUPS}
CONCURRENT = ("off", "on-sqlite", "on-postgres", "on-sqlite-redis")  # run under concurrency


# --- the server side: a scripted service behind the real gateway ----------------------------


class ScriptedChat:
    """A prepared chat whose events are fixed: what the api layer needs of PreparedChat."""

    async def events(self) -> AsyncIterator[ChatEvent]:
        for text in REPLY:
            yield ContentDelta(choice=0, text=text)
        yield Finish(choice=0, reason=FinishReason.STOP)
        yield Usage(prompt_tokens=PROMPT_TOKENS, completion_tokens=len(REPLY))

    def cancel(self) -> None:
        """Nothing is generating."""

    async def final_usage(self, timeout: float = 30.0) -> Usage | None:
        return Usage(prompt_tokens=PROMPT_TOKENS, completion_tokens=len(REPLY))


class ScriptedBackend:
    """A backend for every id of the real catalog (the service checks each request against
    its model); no model, no engine."""

    def serves(self, _deployment: Deployment) -> bool:
        return True

    async def open(self, _chat: RoutedChat, admit: Admit) -> ScriptedChat:
        await admit(PROMPT_TOKENS, 0)
        return ScriptedChat()

    async def start(self) -> None:
        """Nothing to open."""

    def load(self) -> None:
        """Nothing to load."""

    def status(self) -> BackendStatus:
        return BackendStatus()

    def watch(self, _now: float) -> dict[str, EngineHealth]:
        return {}

    def abort_all(self) -> None:
        """Nothing runs."""

    async def stop(self) -> None:
        """Nothing to stop."""


class NullLedger:
    """The ledger of configurations without one: records nothing, waits for nothing."""

    def record(self, _row: object) -> Future[None]:
        done: Future[None] = Future()
        done.set_result(None)
        return done

    async def record_durably(self, _row: object) -> None:
        return None

    def count_refusal(self, _row: object, _model: str) -> None:
        return None

    def close(self, timeout: float = 30.0) -> None:
        return None


def serve(setup: Setup, port: int, config: Path, commits_fd: int | None = None) -> None:
    """Run the scripted server of ``setup`` (settings from ``config`` and QWENCHAT_*). With
    ``commits_fd``, every line read from stdin is answered on that descriptor with the
    ledger's commit count so far (a thread that sleeps in ``read`` otherwise)."""
    settings = Settings.load(config)
    gateway = Gateway.open(settings)
    if not setup.ledger:
        gateway.ledger.close()
        gateway.ledger = NullLedger()  # type: ignore[assignment]
    elif commits_fd is not None:
        threading.Thread(target=answer_commits, args=(gateway.ledger, commits_fd),
                         name="bench-commits", daemon=True).start()
    catalog = Catalog.build(settings, say=print)
    service = ChatService(catalog, [ScriptedBackend()])
    serve_forever(service, gateway,
                  settings.server.model_copy(update={"host": "127.0.0.1", "port": port}))


def answer_commits(ledger: Ledger, fd: int) -> None:
    with open(fd, "w", buffering=1) as out:
        for _ in sys.stdin:
            out.write(f"{ledger.num_commits}\n")


# --- the client side ----------------------------------------------------------------------


@dataclass
class Services:
    """The database servers shared by every run (started only when a setup needs them)."""

    postgres: PostgresServer | None = None
    redis: RedisServer | None = None

    def database_pids(self, setup: Setup) -> list[int]:
        pids: list[int] = []
        if setup.ledger == "postgres" and self.postgres and self.postgres.process:
            pids += children(self.postgres.process.pid)
        if setup.redis and self.redis and self.redis.process:
            pids.append(self.redis.process.pid)
        return pids


@dataclass(frozen=True)
class Phase:
    """One mode's requests on one server."""

    latencies: tuple[float, ...]  # seconds
    server_cpu: float  # seconds, the server process
    database_cpu: float  # seconds, PostgreSQL or Redis

    def metrics(self) -> dict[str, float]:
        """p50/p99/mean in ms, CPU in µs per request."""
        ms = [t * 1000 for t in self.latencies]
        n = len(ms)
        return {"p50": percentile(ms, 0.5) or 0.0, "p99": percentile(ms, 0.99) or 0.0,
                "mean": statistics.fmean(ms), "cpu": self.server_cpu / n * 1e6,
                "db": self.database_cpu / n * 1e6}


@dataclass
class Run:
    """One server's phases, by mode, and whether other processes disturbed it."""

    phases: dict[str, Phase] = field(default_factory=dict)
    neighbours: float | None = None


def request_body(setup: Setup, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Hi!"}],
                            "max_tokens": 1 if setup.engine else len(REPLY), "temperature": 0}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


def send(client: httpx.Client, url: str, body: dict[str, Any]) -> float:
    """One request, read to its end; its latency. Anything but a whole 200 raises."""
    started = time.perf_counter()
    if not body.get("stream"):
        response = client.post(url, json=body)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
        return elapsed
    with client.stream("POST", url, json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.read()[:300]!r}")
        done = False
        for line in response.iter_lines():
            payload = line[5:].strip() if line.startswith("data:") else ""
            if payload == "[DONE]":
                done = True
            elif payload and "error" in json.loads(payload):
                raise RuntimeError(f"error frame in the stream: {payload[:300]}")
        elapsed = time.perf_counter() - started
    if not done:
        raise RuntimeError("the stream ended without [DONE]")
    return elapsed


def measure_phase(client: httpx.Client, url: str, body: dict[str, Any], count: int,
                  server_pid: int, database_pids: Callable[[], list[int]]) -> Phase:
    pids = database_pids()
    server, database = process_cpu([server_pid]), process_cpu(pids)
    latencies = tuple(send(client, url, body) for _ in range(count))
    pids = sorted(set(pids) | set(database_pids()))  # backends that started meanwhile
    return Phase(latencies, process_cpu([server_pid]) - server,
                 process_cpu(pids) - database)


# --- the concurrent runs (their client: bench/rawhttp.py) -------------------------------


@dataclass(frozen=True)
class Load:
    """The concurrent requests of one server run."""

    latencies: tuple[float, ...]  # seconds
    wall: float  # seconds, first request sent to last answer read
    server_cpu: float  # seconds, the server process
    database_cpu: float  # seconds, PostgreSQL or Redis
    client_cpu: float  # seconds, this process
    commits: int | None  # the ledger's commits over the phase (None: no ledger)
    neighbours: float | None = None

    def metrics(self) -> dict[str, float]:
        """requests/s, p50/p99 in ms, CPU in µs per request, rows per commit (0: no ledger)."""
        ms = [t * 1000 for t in self.latencies]
        n = len(ms)
        return {"rps": n / self.wall, "p50": percentile(ms, 0.5) or 0.0,
                "p99": percentile(ms, 0.99) or 0.0, "cpu": self.server_cpu / n * 1e6,
                "db": self.database_cpu / n * 1e6, "client": self.client_cpu / n * 1e6,
                "rows": n / self.commits if self.commits else 0.0}


async def load_phases(setup: Setup, server: Server, services: Services, secret: str,
                      scale: Scale) -> Load:
    """Warm up, then the measured requests, from ``scale.concurrency`` connections."""
    request = raw_request(server.port, secret, request_body(setup, stream=False))
    connections = [await asyncio.open_connection("127.0.0.1", server.port)
                   for _ in range(scale.concurrency)]
    try:
        first = await exchange(connections[0], request)
        if not json.loads(first).get("choices"):
            raise RuntimeError(f"an answer without choices: {first[:300]!r}")
        await drive(connections, request, max(scale.warmup, scale.concurrency))
        pids = services.database_pids(setup)
        commits = server.commits()
        meter = NeighbourMeter(server.process.pid)
        cpu = (process_cpu([server.process.pid]), process_cpu(pids), time.process_time())
        started = time.perf_counter()
        latencies = await drive(connections, request, scale.concurrent_requests)
        wall = time.perf_counter() - started
        pids = sorted(set(pids) | set(services.database_pids(setup)))
        server_cpu = process_cpu([server.process.pid]) - cpu[0]
        database_cpu = process_cpu(pids) - cpu[1]
        client_cpu = time.process_time() - cpu[2]
        cores = meter.cores()
        after = server.commits()
    finally:
        for _, writer in connections:
            writer.close()
    return Load(tuple(latencies), wall, server_cpu, database_cpu, client_cpu,
                None if commits is None or after is None else after - commits,
                None if cores is None else max(0.0, cores - database_cpu / wall))


# --- one server run -----------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    requests: int
    warmup: int
    engine_requests: int
    rounds: int
    concurrency: int = 0  # clients of the concurrent runs (0: none)
    concurrent_requests: int = 0  # measured requests of a concurrent run, all clients together

    def counts(self, setup: Setup) -> tuple[int, int]:
        """(warm-up, measured per mode) requests."""
        if setup.engine:
            return max(1, self.warmup // 10), self.engine_requests
        return self.warmup, self.requests


def write_config(setup: Setup, home: Path) -> Path:
    """The TOML settings of ``setup``: model-wide limits when limits are on."""
    path = home / "qwenchat.toml"
    lines = ['[server]', 'log_level = "warning"  # no access log line per request', '']
    if setup.limits:
        lines += [f'[models."{MODEL}"]', f"rpm = {UNLIMITED_RPM}", f"tpm = {UNLIMITED_TPM}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def server_env(setup: Setup, home: Path, model: Path, services: Services) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWENCHAT_")}
    env |= {"QWENCHAT_HOME": str(home), "QWENCHAT_MODEL": str(model),
            "QWENCHAT_AUTH": "required" if setup.auth else "none"}
    if setup.ledger == "postgres":
        assert services.postgres is not None
        env["QWENCHAT_DATABASE_URL"] = services.postgres.create_database()
    if setup.redis:
        assert services.redis is not None
        with redis.Redis.from_url(services.redis.url) as client:
            client.flushdb()
        env["QWENCHAT_REDIS_URL"] = services.redis.url
    return env


def make_key(setup: Setup, database_url: str) -> str:
    """A key in the run's fresh database (limits far above the run's use when on)."""
    database = open_database(database_url)
    try:
        limits: dict[str, int] = {}
        if setup.limits:
            limits = {"rpm": UNLIMITED_RPM, "tpm": UNLIMITED_TPM, "quota_tokens": QUOTA_TOKENS}
        return KeyStore(database).create("bench", region="local", **limits).secret
    finally:
        database.dispose()


def ledger_rows(database_url: str) -> int:
    database = open_database(database_url)
    try:
        return sum(total.requests for total in usage_totals(database))
    finally:
        database.dispose()


@dataclass
class Server:
    """A running server of one setup."""

    process: subprocess.Popen[bytes]
    root: str  # http://127.0.0.1:port
    port: int
    replies: IO[bytes] | None = None  # the commit counts' pipe, read end (see ``serve``)

    def commits(self) -> int | None:
        """The ledger's commits so far (None without a ledger or the pipe)."""
        if self.replies is None or self.process.stdin is None:
            return None
        self.process.stdin.write(b"?\n")
        self.process.stdin.flush()
        line = self.replies.readline()
        if not line:
            raise RuntimeError("the server did not answer the commit count")
        return int(line)


@contextlib.contextmanager
def running(setup: Setup, home: Path, env: dict[str, str], config: Path,
            count_commits: bool = False) -> Iterator[Server]:
    """The server of ``setup``, ready; stopped afterwards. ``count_commits`` (scripted
    servers with a ledger): ``Server.commits`` answers."""
    port = free_port()
    if setup.engine:
        command = [str(Path(sys.executable).with_name("qwenchat")), "serve"]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "serve",
                   "--config-name", setup.name]
    command += ["--port", str(port), "--config", str(config)]
    log_path = home / "server.log"
    count_commits = count_commits and bool(setup.ledger) and not setup.engine
    with log_path.open("wb") as log, contextlib.ExitStack() as pipes:
        replies, write_end = None, -1
        if count_commits:
            read_end, write_end = os.pipe()
            replies = pipes.enter_context(open(read_end, "rb"))
            command += ["--commits-fd", str(write_end)]
        try:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env,
                stdin=subprocess.PIPE if count_commits else subprocess.DEVNULL,
                pass_fds=(write_end,) if count_commits else ())
        finally:
            if count_commits:  # the server's copy is enough: EOF here if it dies
                os.close(write_end)
        server = Server(process, f"http://127.0.0.1:{port}", port, replies)
        root = server.root
        try:
            deadline = time.monotonic() + 120
            while not _is_ready(root):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{setup.name} did not start:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield server
        except BaseException:
            print(f"  server log {log_path}:\n{log_path.read_text()[-3000:]}")
            raise
        finally:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            stop(process)


def _is_ready(root: str) -> bool:
    try:
        return httpx.get(f"{root}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass(frozen=True)
class Prepared:
    """A fresh server's home: environment, settings, database and key."""

    env: dict[str, str]
    config: Path
    database_url: str
    secret: str


def prepare(setup: Setup, home: Path, model: Path, services: Services) -> Prepared:
    home.mkdir(parents=True)
    env = server_env(setup, home, model, services)
    config = write_config(setup, home)
    database_url = Settings.load(config, env=env).database_url()
    secret = make_key(setup, database_url) if setup.auth else "sk-unused"
    return Prepared(env, config, database_url, secret)


def check_ledger(setup: Setup, database_url: str, expected: int) -> None:
    """An ``on`` run's ledger holds one row per request."""
    if setup.ledger:
        rows = ledger_rows(database_url)
        if rows != expected:
            raise RuntimeError(f"{setup.name}: {rows} ledger rows for {expected} requests")


def load_once(setup: Setup, home: Path, model: Path, services: Services, scale: Scale) -> Load:
    """One fresh server under ``scale.concurrency`` concurrent clients."""
    prepared = prepare(setup, home, model, services)
    with running(setup, home, prepared.env, prepared.config, count_commits=True) as server:
        load = asyncio.run(load_phases(setup, server, services, prepared.secret, scale))
        check_ledger(setup, prepared.database_url,
                     1 + max(scale.warmup, scale.concurrency) + scale.concurrent_requests)
    return load


def run_once(setup: Setup, home: Path, model: Path, services: Services, scale: Scale) -> Run:
    prepared = prepare(setup, home, model, services)
    warmup, count = scale.counts(setup)
    run = Run()
    with running(setup, home, prepared.env, prepared.config) as server, httpx.Client(
            timeout=120, headers={"Authorization": f"Bearer {prepared.secret}"}) as client:
        process, url = server.process, f"{server.root}/compatible-mode/v1/chat/completions"
        for index in range(warmup):
            send(client, url, request_body(setup, stream=index % 2 == 1))
        meter = NeighbourMeter(process.pid)
        database_cpu = process_cpu(services.database_pids(setup))
        started = time.perf_counter()
        for mode in MODES:
            body = request_body(setup, stream=mode == "stream")
            run.phases[mode] = measure_phase(client, url, body, count, process.pid,
                                             lambda: services.database_pids(setup))
        cores = meter.cores()
        if cores is not None:  # the database servers are part of the run, not neighbours
            database_cpu = process_cpu(services.database_pids(setup)) - database_cpu
            run.neighbours = max(0.0, cores - database_cpu / (time.perf_counter() - started))
        check_ledger(setup, prepared.database_url, warmup + count * len(MODES))
    return run


def commit_times(database_url: str, count: int) -> tuple[float, float]:
    """p50 ms of committing one ledger row: a bare insert + commit, and the same row through
    the Ledger's writer thread (queue, commit, future resolved), from a waiting caller."""
    database = open_database(database_url)
    ledger = Ledger(database)
    try:
        bare, through = [], []
        for index in range(count):
            row = UsageRow(created_at=datetime.now(timezone.utc), request_id=f"r{index}",
                           key_id=None, model=MODEL, deployment="bench", stream=False,
                           status=200)
            started = time.perf_counter()
            with database.begin() as connection:
                connection.execute(insert(usage), [row.to_row()])
            bare.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            ledger.record(row).result()
            through.append((time.perf_counter() - started) * 1000)
        return statistics.median(bare), statistics.median(through)
    finally:
        ledger.close()
        database.dispose()


def commit_table(setups: Sequence[Setup], services: Services, workdir: Path,
                 count: int = 500) -> list[str]:
    urls = {}
    if any(s.ledger == "sqlite" for s in setups):
        urls["SQLite"] = f"sqlite:///{workdir / 'commits.db'}"
    if services.postgres is not None:
        urls["PostgreSQL"] = services.postgres.create_database()
    rows = ["| database | insert + commit p50 ms | through the Ledger p50 ms |", "|---|---|---|"]
    for name, url in urls.items():
        bare, through = commit_times(url, count)
        rows.append(f"| {name} | {bare:.3f} | {through:.3f} |")
    return rows if urls else []


# --- rounds and the table -----------------------------------------------------------------


def rotated(items: Sequence[T], shift: int) -> list[T]:
    """``items`` started ``shift`` places later (each round runs them in another order)."""
    shift %= max(1, len(items))
    return [*items[shift:], *items[:shift]]


def interleave(setups: Sequence[Setup], loaded: Sequence[Setup], model: Path,
               services: Services, scale: Scale,
               workdir: Path) -> tuple[dict[str, list[Run]], dict[str, list[Load]]]:
    """Every setup once per round on a fresh server, the order rotated every round; then,
    in the same round, every ``loaded`` setup under concurrent clients, likewise."""
    results: dict[str, list[Run]] = {setup.name: [] for setup in setups}
    loads: dict[str, list[Load]] = {setup.name: [] for setup in loaded}
    for round_no in range(scale.rounds):
        for setup in rotated(setups, round_no):
            wait_for_quiet(30.0)
            run = run_once(setup, workdir / f"{setup.name}-{round_no + 1}", model, services,
                           scale)
            results[setup.name].append(run)
            summary = "; ".join(
                f"{mode} p50 {m['p50']:.2f} ms, CPU {m['cpu']:.0f} µs/req"
                for mode, m in ((mode, run.phases[mode].metrics()) for mode in MODES))
            busy = run.neighbours is not None and run.neighbours > BUSY_NEIGHBOURS
            print(f"round {round_no + 1}/{scale.rounds} {setup.name}: {summary}"
                  + (f" (disturbed: {run.neighbours:.2f} cores busy)" if busy else ""))
        for setup in rotated(loaded, round_no):
            wait_for_quiet(30.0)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    server = commands.add_parser("serve", help="run one configuration's scripted server")
    server.add_argument("--config-name", required=True, choices=list(BY_NAME))
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--config", type=Path, required=True)
    server.add_argument("--commits-fd", type=int, help="answer commit counts (see serve)")
    parser.add_argument("--requests", type=int, default=2000, help="per mode and run")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--engine-requests", type=int, default=200,
                        help="per mode and run of engine-on-sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32,
                        help=f"clients of the concurrent runs ({', '.join(CONCURRENT)}); 0: none")
    parser.add_argument("--concurrent-requests", type=int, default=4000,
                        help="measured requests per concurrent run, all clients together")
    parser.add_argument("--configs", default=",".join(BY_NAME),
                        help=f"comma-separated subset of {','.join(BY_NAME)}")
    parser.add_argument("--write", action="store_true", help="write the table to BENCHMARKS.md")
    args = parser.parse_args()
    if args.command == "serve":
        serve(BY_NAME[args.config_name], args.port, args.config, args.commits_fd)
        return
    unknown = set(args.configs.split(",")) - set(BY_NAME)
    if unknown:
        parser.error(f"unknown configs: {', '.join(sorted(unknown))}")
    setups = [s for s in SETUPS if s.name in args.configs.split(",")]
    loaded = [s for s in setups if s.name in CONCURRENT] if args.concurrency > 0 else []
    scale = Scale(args.requests, args.warmup, args.engine_requests, args.rounds,
                  args.concurrency, args.concurrent_requests)
    model = resolve_model_file("starter", default_home(), say=print)
    workdir = Path(tempfile.mkdtemp(prefix="qwenchat-gateway-"))
    with contextlib.ExitStack() as stack:
        services = Services(
            postgres=stack.enter_context(PostgresServer())
            if any(s.ledger == "postgres" for s in setups) else None,
            redis=stack.enter_context(RedisServer()) if any(s.redis for s in setups) else None)
        results, loads = interleave(setups, loaded, model, services, scale, workdir)
        commits = commit_table(setups, services, workdir)
    body = report(setups, results, scale, commits, loaded, loads)
    print(f"\n{body}\n\nServer logs: {workdir}")
    if args.write:
        command = (f".venv/bin/python bench/gateway.py --requests {args.requests} "
                   f"--rounds {args.rounds} --warmup {args.warmup} "
                   f"--engine-requests {args.engine_requests} --concurrency {args.concurrency}"
                   + (f" --concurrent-requests {args.concurrent_requests}" if loaded else "")
                   + ("" if args.configs == ",".join(BY_NAME) else f" --configs {args.configs}")
                   + " --write")
        write_section("Gateway overhead", command, body)


def describe(scale: Scale) -> list[str]:
    """What the table measured, and how to read it."""
    return [
        "Per-request cost of the gateway, on the same requests. The servers answer from a "
        f"scripted ChatService (real catalog, request checks and gateway calls, "
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


if __name__ == "__main__":
    main()
