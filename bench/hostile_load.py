"""Hostile load on a real `qwenchat serve` (starter model, 4 slots, one llama.cpp thread).

``neighbour``: one client streams a 200-token answer, alone, then while three others
send, in a loop, the largest requests the bounds allow — a 6 MiB body of text (refused as
longer than the context), four 256-character stop strings with a 64-token answer, and a
64 KiB JSON schema of 1,240 keys nested 14 arrays deep — and then beside the same three
requests made ordinary (a short prompt, no stop strings, no schema), which share the decode
steps just as much. Reported: the normal stream's inter-token times (p50, p99) in each case
and the ratios (target: p99 beside hostile neighbours within 2× of alone).

``soak``: ``--clients`` clients for ``--minutes`` at saturation, each request drawn from a
mix (streamed and not, a forced tool call, a JSON schema, a client that leaves mid-stream).
The server's RSS and open files are sampled every 10 s; growth is measured from the end of
the first fifth (warm-up) to the end (target: under 5%), and every answer but a deliberate
429/503 must be a 200.

    .venv/bin/python bench/hostile_load.py neighbour [--rounds 5]
    .venv/bin/python bench/hostile_load.py soak [--minutes 20] [--clients 6]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.qwenchat import ServerProcess

from bench.common.report import write_section
from qwenchat.catalog import resolve_model_file
from qwenchat.settings import default_home

CHAT = "/compatible-mode/v1/chat/completions"
USER = {"role": "user", "content": "Write a long story about a dragon."}
NO_EOS = {"2": -100}  # the starter's <|im_end|>: answers run to max_tokens


def _deep_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {
        f"field_{i}": {"type": "string", "maxLength": 1000} for i in range(1240)}}
    for _ in range(depth):
        schema = {"type": "array", "items": schema}
    return schema


HOSTILE: list[dict[str, Any]] = [
    {"model": "qwen-plus", "max_tokens": 4,
     "messages": [{"role": "user", "content": "word " * (6 * 2**20 // 5 - 200)}]},
    {"model": "qwen-plus", "max_tokens": 64, "logit_bias": NO_EOS, "messages": [USER],
     "stop": [chr(0x4E00 + i) * 256 for i in range(4)]},
    {"model": "qwen-plus", "max_tokens": 16, "messages": [{"role": "user", "content": "json"}],
     "response_format": {"type": "json_schema",
                         "json_schema": {"name": "r", "schema": _deep_schema(14)}}},
]

# The same three requests without what makes them hostile: the load they put on the batch.
ORDINARY: list[dict[str, Any]] = [
    {"model": "qwen-plus", "max_tokens": 4, "messages": [{"role": "user", "content": "word"}]},
    {"model": "qwen-plus", "max_tokens": 64, "logit_bias": NO_EOS, "messages": [USER]},
    {"model": "qwen-plus", "max_tokens": 16, "messages": [{"role": "user", "content": "json"}]},
]


def _server() -> ServerProcess:
    model = resolve_model_file("starter", default_home(), say=print)
    home = Path(tempfile.mkdtemp(prefix="qwenchat-hostile-"))
    return ServerProcess(["--model", str(model), "--threads", "1", "--slots", "4"], home,
                         home / "server.log")


async def _stream_gaps(http: httpx.AsyncClient, tokens: int) -> list[float]:
    body = {"model": "qwen-plus", "messages": [USER], "max_tokens": tokens, "stream": True,
            "logit_bias": NO_EOS, "temperature": 0}
    gaps: list[float] = []
    last: float | None = None
    async with http.stream("POST", CHAT, json=body) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            now = time.perf_counter()
            if last is not None:
                gaps.append(now - last)
            last = now
    return gaps[1:]  # from the second token: the first waits for the prompt


async def _hostile_loop(http: httpx.AsyncClient, body: dict[str, Any], stop: asyncio.Event,
                        statuses: collections.Counter[int]) -> None:
    content = json.dumps(body).encode()
    while not stop.is_set():
        response = await http.post(CHAT, content=content,
                                   headers={"content-type": "application/json"})
        statuses[response.status_code] += 1


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else 0.0


async def _beside(http: httpx.AsyncClient, bodies: list[dict[str, Any]],
                  statuses: collections.Counter[int]) -> list[float]:
    """The normal stream's gaps while ``bodies`` are sent in a loop, one client each."""
    stop = asyncio.Event()
    loops = [asyncio.create_task(_hostile_loop(http, body, stop, statuses)) for body in bodies]
    await asyncio.sleep(1.0)  # the neighbours are at work
    gaps = await _stream_gaps(http, 200)
    stop.set()
    await asyncio.gather(*loops)
    return gaps


async def neighbour(rounds: int) -> str:
    statuses: collections.Counter[int] = collections.Counter()
    runs: dict[str, list[float]] = {"alone": [], "beside hostile neighbours": [],
                                    "beside ordinary neighbours": []}
    with _server() as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=300) as http:
            for _ in range(rounds):  # interleaved: the machine drifts
                runs["alone"] += await _stream_gaps(http, 200)
                runs["beside hostile neighbours"] += await _beside(http, HOSTILE, statuses)
                runs["beside ordinary neighbours"] += await _beside(
                    http, ORDINARY, collections.Counter())
    rows = [f"| {name} | {len(gaps)} | {_p(gaps, 50):.1f} | {_p(gaps, 99):.1f} |"
            for name, gaps in runs.items()]
    alone, hostile, ordinary = (_p(gaps, 99) for gaps in runs.values())
    seen = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    return "\n".join([
        "| normal stream | inter-token gaps | p50 ms | p99 ms |", "|---|---|---|---|", *rows,
        "", f"p99 beside hostile neighbours / alone: **{hostile / max(alone, 1e-9):.2f}×** "
        f"(target ≤ 2×); beside hostile / beside ordinary neighbours: "
        f"**{hostile / max(ordinary, 1e-9):.2f}×**. Hostile neighbours' answers: {seen}. "
        "Hostile neighbours: a 6 MiB body of text (read, parsed off the event loop, refused "
        "untokenized as longer than the context), four 256-character stop strings on "
        "64-token answers, a 64 KiB JSON schema nested 14 arrays deep with 1,240 keys. "
        "Ordinary ones: the same three requests with a short prompt, no stop strings, no "
        f"schema. {rounds} interleaved rounds of 200 tokens."])


def _proc(pid: int) -> tuple[int, int]:
    """RSS in KiB and open files of process ``pid``."""
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


MIX: list[tuple[str, dict[str, Any]]] = [
    ("stream", {"messages": [USER], "max_tokens": 48, "stream": True}),
    ("plain", {"messages": [USER], "max_tokens": 32}),
    ("tool", {"messages": [{"role": "user", "content": "Weather in Paris?"}], "max_tokens": 48,
              "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
                  "type": "object", "properties": {"city": {"type": "string"}},
                  "required": ["city"]}}}], "tool_choice": "required"}),
    ("schema", {"messages": [{"role": "user", "content": "Paris as json"}], "max_tokens": 48,
                "response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": {
                    "type": "object", "properties": {"name": {"type": "string"},
                                                     "population": {"type": "integer"}}}}}}),
    ("leaves", {"messages": [USER], "max_tokens": 200, "stream": True}),
]


async def _soak_client(http: httpx.AsyncClient, until: float, seed: int,
                       outcomes: collections.Counter[str]) -> None:
    rng = random.Random(seed)
    while time.monotonic() < until:
        kind, fields = rng.choice(MIX)
        body = {"model": "qwen-plus", **fields}
        try:
            if fields.get("stream"):
                async with http.stream("POST", CHAT, json=body) as response:
                    count = 0
                    async for _line in response.aiter_lines():
                        count += 1
                        if kind == "leaves" and count > 10:
                            break  # the client goes away mid-stream
                    status = response.status_code
            else:
                status = (await http.post(CHAT, json=body)).status_code
        except httpx.HTTPError as exc:
            outcomes[f"transport error {type(exc).__name__}"] += 1
            continue
        outcomes[str(status)] += 1


async def soak(minutes: float, clients: int) -> str:
    outcomes: collections.Counter[str] = collections.Counter()
    samples: list[tuple[float, int, int]] = []
    with _server() as server:
        pid = server.process.pid
        started = time.monotonic()
        until = started + minutes * 60
        async with httpx.AsyncClient(base_url=server.url, timeout=300) as http:
            tasks = [asyncio.create_task(_soak_client(http, until, seed, outcomes))
                     for seed in range(clients)]
            while time.monotonic() < until:
                samples.append((time.monotonic() - started, *_proc(pid)))
                await asyncio.sleep(10)
            await asyncio.gather(*tasks)
            samples.append((time.monotonic() - started, *_proc(pid)))
    warm = next(s for s in samples if s[0] >= minutes * 60 / 5)
    end = samples[-1]
    rss_growth = (end[1] - warm[1]) / warm[1]
    fd_growth = (end[2] - warm[2]) / warm[2]
    errors = sum(count for name, count in outcomes.items() if name not in ("200", "429", "503"))
    seen = ", ".join(f"{name}: {count}" for name, count in sorted(outcomes.items()))
    return "\n".join([
        "| minutes | clients | requests | errors | RSS after warm-up → end (MiB) | RSS growth "
        "| open files after warm-up → end | growth |", "|---|---|---|---|---|---|---|---|",
        f"| {minutes:g} | {clients} | {sum(outcomes.values())} | {errors} | "
        f"{warm[1] / 1024:.0f} → {end[1] / 1024:.0f} | {rss_growth:+.1%} | "
        f"{warm[2]} → {end[2]} | {fd_growth:+.1%} |", "",
        f"Answers: {seen}. Mix: {', '.join(name for name, _ in MIX)} (\"leaves\" reads 10 "
        "lines and disconnects). Warm-up is the first fifth of the run; targets: under 5% "
        "growth, no errors but deliberate 429/503."])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["neighbour", "soak"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--clients", type=int, default=6)
    args = parser.parse_args()
    if args.mode == "neighbour":
        text = asyncio.run(neighbour(args.rounds))
        command = f".venv/bin/python bench/hostile_load.py neighbour --rounds {args.rounds}"
        title = "Hostile neighbours"
    else:
        text = asyncio.run(soak(args.minutes, args.clients))
        command = (f".venv/bin/python bench/hostile_load.py soak --minutes {args.minutes:g} "
                   f"--clients {args.clients}")
        title = "Soak"
    print(text)
    write_section(title, command, text)


if __name__ == "__main__":
    main()
