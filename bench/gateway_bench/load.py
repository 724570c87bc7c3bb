"""Concurrent clients on one keep-alive connection each: requests/s, latency, CPU per request
and the ledger's rows per commit (its group commit shows here)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common.cpu import NeighbourMeter, process_cpu
from bench.common.rawhttp import drive, exchange, raw_request
from bench.common.stats import percentile
from bench.gateway_bench.sequential import request_body
from bench.gateway_bench.servers import Server, Services, check_ledger, prepare, running
from bench.gateway_bench.setups import Scale, Setup


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
        meter = NeighbourMeter(server.pid)
        cpu = (process_cpu([server.pid]), process_cpu(pids), time.process_time())
        started = time.perf_counter()
        latencies = await drive(connections, request, scale.concurrent_requests)
        wall = time.perf_counter() - started
        pids = sorted(set(pids) | set(services.database_pids(setup)))
        server_cpu = process_cpu([server.pid]) - cpu[0]
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


def load_once(setup: Setup, home: Path, model: Path, services: Services, scale: Scale) -> Load:
    """One fresh server under ``scale.concurrency`` concurrent clients."""
    prepared = prepare(setup, home, model, services)
    with running(setup, home, prepared.env, prepared.config, count_commits=True) as server:
        load = asyncio.run(load_phases(setup, server, services, prepared.secret, scale))
        check_ledger(setup, prepared.database_url,
                     1 + max(scale.warmup, scale.concurrency) + scale.concurrent_requests)
    return load
