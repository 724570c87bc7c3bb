"""A scripted OpenAI-compatible upstream for the gateway benchmarks: fixed answers, cheaply.

:class:`ScriptedUpstream` starts it on a free port (the server runs as this module).

It answers ``POST /v1/chat/completions`` with the same reply every time, ``--chunks``
pieces long: one ``chat.completion`` JSON, or, when the request streams, an SSE stream of a
role chunk, one chunk per piece, a finish chunk, the usage chunk (with
``stream_options.include_usage``) and ``[DONE]``, as vLLM sends them. ``GET /v1/models``
answers the health checks of the gateways in front.

Every streamed piece carries the moment it was written, ``[t=<CLOCK_MONOTONIC seconds>]``,
in its content text (gateways re-encode chunks, so an extra field would not survive): a
client on the same machine subtracts it from the moment it read the piece. Without a
chunk delay the whole stream is one write (cheapest); with one (``POST /bench/chunk-delay``,
the body the delay in ms) every chunk is its own write, that long after the previous.
``GET /bench/count`` answers how many chat requests it has answered, so a benchmark can
check that every request went through.

It is a raw HTTP/1.1 server on asyncio streams and uvloop: keep-alive, bodies by
Content-Length only (a request without one gets 411), 10-25 µs of CPU per request, so the
gateways in front of it dominate what is measured.

    .venv/bin/python -m harness.scripted_upstream --port 8001 [--chunks 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

from harness.process import Command, free_port

MODEL = "fake-model"
PROMPT_TOKENS = 20
_STAMP = "@stamp@"  # where a streamed piece's send time goes
_MODELS = json.dumps({"object": "list", "data": [
    {"id": MODEL, "object": "model", "created": 0, "owned_by": "bench"}]}).encode()


class Script:
    """The fixed reply, and the state the bench controls."""

    def __init__(self, num_chunks: int) -> None:
        self.pieces = [f" w{index}" for index in range(num_chunks)]
        self.chunk_delay = 0.0  # seconds between streamed chunks
        self.num_answered = 0
        self.completion = self._completion()  # built once: the upstream should cost little
        self.streams = {include_usage: self._frames(include_usage)
                        for include_usage in (False, True)}

    def _completion(self) -> bytes:
        return json.dumps({
            "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant",
                                                 "content": "".join(self.pieces)},
                         "finish_reason": "stop"}],
            "usage": self.usage()}).encode()

    def usage(self) -> dict[str, int]:
        completion = len(self.pieces)
        return {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": completion,
                "total_tokens": PROMPT_TOKENS + completion}

    def _frames(self, include_usage: bool) -> tuple[bytes, list[tuple[str, str]], bytes]:
        """The stream as (the role chunk, each piece's chunk before and after its stamp,
        the end)."""
        head = _frame(_chunk({"role": "assistant", "content": ""}))
        pieces = []
        for piece in self.pieces:
            before, after = _chunk({"content": f"[t={_STAMP}]{piece}"}).split(_STAMP)
            pieces.append((before, after))
        tail = _frame(_chunk({}, "stop"))
        if include_usage:
            tail += _frame(json.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                                       "created": 0, "model": MODEL, "choices": [],
                                       "usage": self.usage()}))
        return head, pieces, tail + _frame("[DONE]")


def _chunk(delta: dict[str, str], finish_reason: str | None = None) -> str:
    return json.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
                       "model": MODEL, "choices": [{"index": 0, "delta": delta,
                                                    "finish_reason": finish_reason}]})


def _frame(data: str) -> bytes:
    """One SSE frame as one HTTP chunk (chunked transfer encoding)."""
    event = f"data: {data}\n\n".encode()
    return f"{len(event):x}\r\n".encode() + event + b"\r\n"


def _response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _stream(writer: asyncio.StreamWriter, script: Script, request: dict[str, Any]) -> None:
    options = request.get("stream_options") or {}
    head, pieces, tail = script.streams[bool(options.get("include_usage"))]
    start = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n")
    delay = script.chunk_delay
    if not delay:
        stamp = f"{time.monotonic():.6f}"
        writer.write(start + head + b"".join(_frame(before + stamp + after)
                                             for before, after in pieces)
                     + tail + b"0\r\n\r\n")
        return
    writer.write(start + head)
    for before, after in pieces:
        await asyncio.sleep(delay)
        writer.write(_frame(f"{before}{time.monotonic():.6f}{after}"))
    await asyncio.sleep(delay)
    writer.write(tail + b"0\r\n\r\n")
    await writer.drain()


async def _answer(writer: asyncio.StreamWriter, script: Script, method: bytes, path: bytes,
                  body: bytes) -> None:
    if method == b"POST" and path.endswith(b"/chat/completions"):
        script.num_answered += 1
        request = json.loads(body)
        if request.get("stream"):
            await _stream(writer, script, request)
        else:
            writer.write(_response("200 OK", script.completion))
    elif method == b"GET" and path.endswith(b"/models"):
        writer.write(_response("200 OK", _MODELS))
    elif method == b"POST" and path == b"/bench/chunk-delay":
        script.chunk_delay = float(body) / 1000
        writer.write(_response("200 OK", b"{}"))
    elif method == b"GET" and path == b"/bench/count":
        writer.write(_response("200 OK", str(script.num_answered).encode()))
    else:
        writer.write(_response("404 Not Found", b'{"error":{"message":"not found"}}'))


async def _connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      script: Script) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, path, _ = lines[0].split(b" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if b"content-length" not in headers and method == b"POST":
                writer.write(_response("411 Length Required", b""))
                break
            body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
            await _answer(writer, script, method, path.split(b"?", 1)[0], body)
            if headers.get(b"connection", b"").lower() == b"close":
                await writer.drain()
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client closed the connection
    finally:
        writer.close()


async def serve(port: int, num_chunks: int) -> None:
    script = Script(num_chunks)
    server = await asyncio.start_server(
        lambda reader, writer: _connection(reader, writer, script), "127.0.0.1", port,
        backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=16, help="content pieces per reply")
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.chunks))


class ScriptedUpstream(Command):
    """This upstream, ``num_chunks`` pieces a reply, on a free port, logging to ``log_path``;
    ``url`` is its root (the OpenAI base URL is ``url``/v1)."""

    def __init__(self, log_path: Path, num_chunks: int = 16) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        super().__init__("scripted-upstream",
                         [sys.executable, "-m", "harness.scripted_upstream", "--port", str(port),
                          "--chunks", str(num_chunks)],
                         f"{self.url}/v1/models", env=dict(os.environ), port=port,
                         workdir=log_path.parent, log_path=log_path, ready_timeout=180.0,
                         cwd=Path(__file__).resolve().parents[1])


if __name__ == "__main__":
    main()
