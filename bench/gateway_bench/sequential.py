"""One client, one request at a time: each configuration's latency and CPU per request,
non-stream and streamed."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common.cpu import NeighbourMeter, process_cpu
from bench.common.stats import percentile
from bench.gateway_bench.servers import Services, check_ledger, prepare, running
from bench.gateway_bench.setups import MODEL, MODES, REPLY, Scale, Setup


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


def run_once(setup: Setup, home: Path, model: Path, services: Services, scale: Scale) -> Run:
    prepared = prepare(setup, home, model, services)
    warmup, count = scale.counts(setup)
    run = Run()
    with running(setup, home, prepared.env, prepared.config) as server, httpx.Client(
            timeout=120, headers={"Authorization": f"Bearer {prepared.secret}"}) as client:
        pid, url = server.pid, f"{server.root}/compatible-mode/v1/chat/completions"
        for index in range(warmup):
            send(client, url, request_body(setup, stream=index % 2 == 1))
        meter = NeighbourMeter(pid)
        database_cpu = process_cpu(services.database_pids(setup))
        started = time.perf_counter()
        for mode in MODES:
            body = request_body(setup, stream=mode == "stream")
            run.phases[mode] = measure_phase(client, url, body, count, pid,
                                             lambda: services.database_pids(setup))
        cores = meter.cores()
        if cores is not None:  # the database servers are part of the run, not neighbours
            database_cpu = process_cpu(services.database_pids(setup)) - database_cpu
            run.neighbours = max(0.0, cores - database_cpu / (time.perf_counter() - started))
        check_ledger(setup, prepared.database_url, warmup + count * len(MODES))
    return run
