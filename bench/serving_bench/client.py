"""The streaming HTTP client every engine is driven by: one greedy chat completion of exactly
the tokens asked for, timed per token; and the notes about replies that surprise."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from bench.serving_bench.engines import Engine, Server

Messages = list[dict[str, str]]

REQUEST_TIMEOUT = 600.0

DEFAULT_SYSTEM = "You are a helpful assistant."  # explicit, so every template renders alike

T = TypeVar("T")

oddities: Counter[str] = Counter()


def note(message: str) -> None:
    """Remember something unexpected about a server's replies (printed once, then counted)."""
    if not oddities[message]:
        print(f"  note: {message}")
    oddities[message] += 1


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


def chat(user: str, system: str = DEFAULT_SYSTEM) -> Messages:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
