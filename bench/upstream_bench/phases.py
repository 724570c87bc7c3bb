"""The three phases of a run: one client in sequence, concurrent clients, and streams whose
pieces carry the moment the upstream wrote them."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import re
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.common.cpu import process_cpu
from bench.common.rawhttp import Connection, drive, exchange, raw_request
from bench.common.stats import percentile
from bench.upstream_bench.fronts import Stack, Target
from bench.upstream_bench.scale import STREAM_WARMUP, Scale

STAMP = re.compile(rb"\[t=(\d+\.\d+)\]")


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
