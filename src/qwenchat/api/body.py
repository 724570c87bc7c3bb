"""A chat request's body: read with a size cap and a time limit, parsed off the event loop
when it is large.

Rules kept here:

* the body is read only once the key has been checked (the route calls :func:`read_body`
  after authentication), in the chunks the client sends, never all at once;
* a declared ``Content-Length`` over the cap is refused before anything is read, and a body
  sent without one is refused as soon as it passes the cap: 400, with DashScope's message
  for its own 6 MiB limit ("Exceeded limit on max bytes to request body : 6291456");
* the whole body must arrive within ``body_timeout`` seconds, so a client that trickles it
  holds a connection for a stated time at most (400, and the connection is closed);
* a body over 256 KiB is parsed in a worker thread: a large upload then costs the event loop
  nothing, and other streams keep flowing while it is parsed (a small one is parsed inline,
  where a thread hop would cost more than the parse).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request

from qwenchat.errors import BodyRefused

INLINE_PARSE_BYTES = 256 * 1024

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """How large a body may be and how long it may take to arrive."""

    max_bytes: int
    timeout: float


async def read_body(request: Request, limits: BodyLimits) -> bytes:
    """The request's body; :class:`BodyRefused` when it is too large or too slow."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise _too_large(limits)
    try:
        return await asyncio.wait_for(_read_capped(request, limits), limits.timeout)
    except asyncio.TimeoutError:
        raise BodyRefused(f"The request body did not arrive within {limits.timeout:g} "
                          "seconds.") from None


async def _read_capped(request: Request, limits: BodyLimits) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.max_bytes:
            raise _too_large(limits)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limits: BodyLimits) -> BodyRefused:
    return BodyRefused(f"Exceeded limit on max bytes to request body : {limits.max_bytes}")


async def parse_off_loop(parse: Callable[[bytes], _T], body: bytes) -> _T:
    """``parse(body)``: inline for a small body, in a worker thread for a large one."""
    if len(body) <= INLINE_PARSE_BYTES:
        return parse(body)
    return await asyncio.to_thread(parse, body)

