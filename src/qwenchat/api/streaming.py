"""Server-sent events for a streamed chat completion, and the non-stream collector.

Frames are ``data: {json}\\n\\n`` ending with ``data: [DONE]``; an error after the stream has
started is sent as one ``data: {"error": ...}`` frame, then the stream ends. Leaving the
generator early (the client disconnected) cancels the generation through
``PreparedChat.events``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request

from qwenchat.api.errors import envelope
from qwenchat.errors import QwenchatError
from qwenchat.protocol import ChunkEncoder, CompletionAssembler
from qwenchat.service import PreparedChat

_log = logging.getLogger("qwenchat.api")


def _frame(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False,
                                  separators=(",", ":")).encode() + b"\n\n"


async def sse_frames(prepared: PreparedChat, encoder: ChunkEncoder,
                     rid: str) -> AsyncIterator[bytes]:
    """Every SSE frame of one streamed completion."""
    try:
        for chunk in encoder.first_chunks():
            yield _frame(chunk)
        async for event in prepared.events():
            for chunk in encoder.encode(event):
                yield _frame(chunk)
        yield b"data: [DONE]\n\n"
    except QwenchatError as exc:
        yield _frame(envelope(exc, rid))
    except Exception as exc:  # the stream has started: report in-band, keep serving
        _log.error("stream failed", exc_info=exc)
        yield _frame(envelope(QwenchatError(), rid))


async def collect(prepared: PreparedChat, assembler: CompletionAssembler,
                  request: Request) -> dict[str, Any]:
    """Run a non-stream completion to its end; a client that leaves cancels it."""
    watcher = asyncio.create_task(_cancel_on_disconnect(prepared, request))
    try:
        async for event in prepared.events():
            assembler.add(event)
    finally:
        watcher.cancel()
    return assembler.result()


async def _cancel_on_disconnect(prepared: PreparedChat, request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            prepared.cancel()
            return
