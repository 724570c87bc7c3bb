"""Server-sent events for a streamed chat completion, and the non-stream collector.

Frames are ``data: {json}\\n\\n`` ending with ``data: [DONE]``; an error after the stream has
started is sent as one ``data: {"error": ...}`` frame, then the stream ends. Leaving the
generator early (the client disconnected) cancels the generation through
``PreparedChat.events``.

Both report every event to the request's gateway ``Ticket``. The ledger row is committed
before the client can see the response as complete: a stream holds back its finish chunks
(with ``finish_reason``), the usage chunk and ``[DONE]`` until then; a non-stream response
is sent after it. A client that leaves early is recorded (499) with the tokens generated
until the generation stopped, and they are charged to its limits.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request

from qwenchat.api.errors import envelope
from qwenchat.core import Finish, Usage
from qwenchat.errors import QwenchatError
from qwenchat.gateway import Ticket
from qwenchat.protocol import ChunkEncoder, CompletionAssembler
from qwenchat.service import PreparedChat

_log = logging.getLogger("qwenchat.api")


def _frame(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False,
                                  separators=(",", ":")).encode() + b"\n\n"


async def sse_frames(prepared: PreparedChat, encoder: ChunkEncoder, rid: str,
                     ticket: Ticket) -> AsyncIterator[bytes]:
    """Every SSE frame of one streamed completion."""
    held: list[bytes] = []  # finish and usage chunks, sent once the ledger row is committed
    try:
        for chunk in encoder.first_chunks():
            yield _frame(chunk)
        async for event in prepared.events():
            ticket.observe(event)
            frames = [_frame(chunk) for chunk in encoder.encode(event)]
            if isinstance(event, (Finish, Usage)):
                held += frames
            else:
                for frame in frames:
                    yield frame
        await ticket.complete()
        for frame in held:
            yield frame
        yield b"data: [DONE]\n\n"
    except QwenchatError as exc:
        ticket.fail(exc)
        yield _frame(envelope(exc, rid))
    except (asyncio.CancelledError, GeneratorExit):
        ticket.abandon(prepared.final_usage)
        raise
    except Exception as exc:  # the stream has started: report in-band, keep serving
        _log.error("stream failed", exc_info=exc)
        ticket.fail(QwenchatError())
        yield _frame(envelope(QwenchatError(), rid))


async def collect(prepared: PreparedChat, assembler: CompletionAssembler,
                  request: Request, ticket: Ticket) -> dict[str, Any]:
    """Run a non-stream completion to its end and record it; a client that leaves cancels
    it."""
    watcher = asyncio.create_task(_cancel_on_disconnect(prepared, request))
    try:
        async for event in prepared.events():
            ticket.observe(event)
            assembler.add(event)
    except QwenchatError as exc:
        ticket.fail(exc)
        raise
    except BaseException:
        if watcher.done():
            ticket.abandon(prepared.final_usage)
        else:
            ticket.fail(QwenchatError())
        raise
    finally:
        watcher.cancel()
    if watcher.done() and not watcher.cancelled():
        ticket.abandon(prepared.final_usage)
    else:
        await ticket.complete()
    return assembler.result()


async def _cancel_on_disconnect(prepared: PreparedChat, request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            prepared.cancel()
            return
