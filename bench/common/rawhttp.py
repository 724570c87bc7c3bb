"""A minimal HTTP/1.1 load client on asyncio streams, for the gateway benchmarks.

httpx.AsyncClient spent ~1.8 ms of CPU per request at 32 pooled connections (the qwenchat
server ~0.25 ms), so on 2 shared cores it would measure itself. These clients speak just
enough HTTP/1.1 (~25 µs of CPU per request): one keep-alive connection each, the request's
bytes prepared once, the answer read by its Content-Length. Anything but a 200 raises.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

CHAT_PATH = "/compatible-mode/v1/chat/completions"  # qwenchat's DashScope base

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def raw_request(port: int, secret: str, body: dict[str, Any], *, path: str = CHAT_PATH,
                close: bool = False) -> bytes:
    """The bytes of one POST of ``body`` as JSON; ``close`` asks the server to close the
    connection after answering (a streamed answer is then read to EOF)."""
    payload = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {secret}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            + ("Connection: close\r\n" if close else "") + "\r\n")
    return head.encode() + payload


async def exchange(connection: Connection, request: bytes) -> bytes:
    """One request on a keep-alive connection; the answer's body. Anything but a 200 raises."""
    reader, writer = connection
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        raise RuntimeError(f"an answer without Content-Length: {head[:300]!r}")
    payload = await reader.readexactly(length)
    if head[9:12] != b"200":
        status = head.split(b"\r\n", 1)[0]
        raise RuntimeError(f"{status!r}: {payload[:300]!r}")
    return payload


async def drive(connections: Sequence[Connection], request: bytes, count: int) -> list[float]:
    """``count`` requests, each connection sending its next as soon as its last is answered;
    the latencies (s)."""
    latencies: list[float] = []
    left = count

    async def client(connection: Connection) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            started = time.perf_counter()
            await exchange(connection, request)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client(connection) for connection in connections))
    return latencies
