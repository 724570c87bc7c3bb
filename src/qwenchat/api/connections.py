"""The HTTP connection protocol: uvicorn's (httptools), with the limits a slow or greedy client
needs and uvicorn does not have.

* **Open connections** are capped (``max_connections``, kept below the process's open-file
  limit): one more is answered 503 ``ModelServingError`` at once and closed, so thousands of
  idle sockets cannot exhaust file descriptors nor stop the server accepting.
* **Request headers** must arrive within ``header_timeout`` seconds: the first request's from
  when the connection opened, a later one's from its first byte; a connection that sends
  half a header and waits is closed (slowloris). Between requests, uvicorn's keep-alive
  timeout (``keep_alive_timeout``) closes idle connections.
* **Request headers** may take 64 KiB at most: over that, the answer is 400 (as nginx, the
  usual front of an API, answers it) and the connection is closed, before the parser
  buffers any more of them.

uvicorn's own ``limit_concurrency`` is not used: its 503 is plain text, and a connection
carries one request at a time, so the connection cap bounds the requests being received too
(a client that leaves ends its request's work, see ``routes.py``).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from qwenchat.api.errors import envelope, retry_headers
from qwenchat.errors import InvalidParameter, QwenchatError, ServerOverloaded

MAX_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Limits on each connection and on all of them together."""

    max_connections: int
    header_timeout: float
    max_header_bytes: int = MAX_HEADER_BYTES


def guarded_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class keeping ``limits`` (for ``uvicorn.Config(http=...)``)."""

    class GuardedProtocol(_GuardedProtocol):
        pass

    GuardedProtocol.limits = limits
    return GuardedProtocol


class _GuardedProtocol(HttpToolsProtocol):
    limits: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._is_reading_head = True
        self._head_bytes = 0
        self._head_size = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if len(self.connections) >= self.limits.max_connections:
            self.transport = transport  # type: ignore[assignment]
            _refuse(transport, ServerOverloaded())
            return
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._is_reading_head or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > self.limits.max_header_bytes:
            _refuse(self.transport, _head_too_large(self.limits))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._is_reading_head, self._head_bytes, self._head_size = True, 0, 0
        if self._head_timer is None:  # the first request's timer runs from the connection
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._head_size += len(name) + len(value) + 4

    def on_headers_complete(self) -> None:
        self._is_reading_head = False
        self._cancel_head_timer()
        if self._head_size <= self.limits.max_header_bytes:
            super().on_headers_complete()
            return
        # a whole oversized head in one read: answer through uvicorn, which then closes
        app, self.app = self.app, _RefusalApp(_head_too_large(self.limits))
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_late)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self._is_reading_head and not self.transport.is_closing():
            self.transport.close()


def _head_too_large(limits: ConnectionLimits) -> QwenchatError:
    return InvalidParameter(f"Request headers are larger than {limits.max_header_bytes} "
                            "bytes.")


def _answer(error: QwenchatError) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and body of the DashScope envelope answering ``error``."""
    rid = str(uuid.uuid4())
    body = json.dumps(envelope(error, rid), separators=(",", ":")).encode()
    headers = {"content-type": "application/json", "content-length": str(len(body)),
               "connection": "close", "x-request-id": rid, **retry_headers(error)}
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()], body


def _refuse(transport: asyncio.BaseTransport, error: QwenchatError) -> None:
    """Answer ``error`` on a connection that has no request to answer, and close it."""
    headers, body = _answer(error)
    head = b"HTTP/1.1 %d %s\r\n" % (error.status, HTTPStatus(error.status).phrase.encode())
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    cast(asyncio.Transport, transport).write(head + b"\r\n" + body)
    transport.close()


class _RefusalApp:
    """An ASGI app answering every request with one error."""

    def __init__(self, error: QwenchatError) -> None:
        self._error = error

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers, body = _answer(self._error)
        await send({"type": "http.response.start", "status": self._error.status,
                    "headers": headers})
        await send({"type": "http.response.body", "body": body})
