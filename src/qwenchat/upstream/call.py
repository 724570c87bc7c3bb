"""``UpstreamCall``: one request streaming from the replica that took it.

It is made once the replica's first chunk has arrived (see ``deployment.py``), so by then
the request can no longer move to another replica. :meth:`UpstreamCall.events` yields the
ChatEvents as chunks arrive, without buffering, and makes sure the stream ends the way
ChatEvents promise: a ``Finish`` for every choice, then exactly one ``Usage``. Leaving the
iteration early (the client went away) closes the upstream connection, which makes vLLM,
SGLang and llama-server abort the generation.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from qwenchat.core import ChatEvent, Finish, FinishReason, Usage
from qwenchat.errors import ModelUnavailable
from qwenchat.upstream.dialects import chunk_events

_log = logging.getLogger("qwenchat.upstream")

DONE = "[DONE]"


async def response_lines(response: aiohttp.ClientResponse) -> AsyncIterator[str]:
    """The lines of a response body as they arrive."""
    async for line in response.content:
        yield line.decode("utf-8", errors="replace").rstrip("\r\n")


async def next_chunk(lines: AsyncIterator[str]) -> dict[str, Any] | None:
    """The next ``data:`` chunk of an SSE stream; None at ``[DONE]`` or the end."""
    async for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, comments, event names
        data = line[5:].strip()
        if data == DONE:
            return None
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise ModelUnavailable("The upstream sent a malformed stream.") from exc
        if isinstance(chunk, dict):
            return chunk
    return None


class UpstreamCall:
    """A request's open stream; iterate :meth:`events` once."""

    def __init__(self, response: aiohttp.ClientResponse, lines: AsyncIterator[str],
                 first: dict[str, Any] | None, *, n: int, prompt_estimate: int,
                 on_end: Callable[[], None]) -> None:
        self._response = response
        self._lines = lines
        self._first = first
        self._n = n
        self._prompt_estimate = prompt_estimate
        self._on_end = on_end
        self._finished: set[int] = set()
        self._usage: Usage | None = None
        self._num_deltas = 0
        self._closed = False
        self._is_read = False

    async def events(self) -> AsyncIterator[ChatEvent]:
        """The request's ChatEvents, ending with its ``Usage``."""
        try:
            chunk = self._first
            while chunk is not None:
                for event in chunk_events(chunk):
                    if isinstance(event, Usage):
                        self._usage = event
                        continue
                    self._note(event)
                    yield event
                chunk = await next_chunk(self._lines)
            async for _ in self._lines:  # read to the end: the connection goes back to the pool
                pass
            self._is_read = True
            for choice in range(self._n):
                if choice not in self._finished:
                    yield Finish(choice, FinishReason.STOP)
            yield self._usage or self._estimated_usage()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise ModelUnavailable("The upstream stream broke off.") from exc
        finally:
            await self.aclose()

    def cancel(self) -> None:
        """Stop (the client went away before reading): close the upstream connection."""
        self._close()

    async def final_usage(self, timeout: float = 30.0) -> Usage | None:
        """What the upstream reported, else the admission estimate and one token per delta
        streamed (the client left before the usage chunk)."""
        self._close()
        return self._usage or self._counted_usage()

    async def aclose(self) -> None:
        """Release the upstream connection (see :meth:`_close`)."""
        self._close()

    def _close(self) -> None:
        """Give the connection back to the pool if the answer was read to its end, else
        close it (which tells the upstream to stop)."""
        if self._closed:
            return
        self._closed = True
        if self._is_read:
            self._response.release()
        else:
            self._response.close()
        self._on_end()

    def _note(self, event: ChatEvent) -> None:
        if isinstance(event, Finish):
            self._finished.add(event.choice)
        else:
            self._num_deltas += 1

    def _estimated_usage(self) -> Usage:
        """For an upstream that sent no usage: logged, since limits and the ledger then count
        approximately."""
        _log.warning("the upstream sent no usage: counting an estimate")
        return self._counted_usage()

    def _counted_usage(self) -> Usage:
        """The admission estimate of the prompt and one token per streamed delta."""
        return Usage(prompt_tokens=self._prompt_estimate, completion_tokens=self._num_deltas)
