"""``Upstream``: one deployment of OpenAI-compatible replicas, as the service uses it.

:meth:`Upstream.open` sends a request to the best replica (``replicas.py``) and returns
once that replica's first chunk has arrived. Until then nothing has reached the client, so
a connection error, a timeout (connect, or first byte) or a 5xx answer takes the replica
out and the request goes to the next one; after it, the request stays where it is. A 4xx
answer is the request's own fault: it is returned as a DashScope error at once. A
background task checks every replica's ``/models`` every ``health_interval`` seconds and
brings recovered ones back. The upstream's API key comes from the environment variable
the settings name, and is sent only to the replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from qwenchat.core import ChatRequest
from qwenchat.errors import ConfigError, ModelUnavailable, QwenchatError
from qwenchat.settings import UpstreamDeployment
from qwenchat.upstream.call import UpstreamCall, next_chunk, response_lines
from qwenchat.upstream.dialects import Dialect, error_from, upstream_body
from qwenchat.upstream.replicas import Replica, ReplicaSet

_log = logging.getLogger("qwenchat.upstream")


class _TryAnother(Exception):
    """This replica failed before its first byte; the next one may not."""


class Upstream:
    """The replicas of one ``[deployments.<name>]`` and the HTTP client that reaches them."""

    def __init__(self, name: str, settings: UpstreamDeployment) -> None:
        self.name = name
        self.dialect = Dialect(settings.dialect)
        self._settings = settings
        self.replicas = ReplicaSet(settings.replicas)
        self._headers: dict[str, str] = {}
        if settings.api_key_env:
            key = os.environ.get(settings.api_key_env)
            if not key:
                raise ConfigError(f"[deployments.{name}] api_key_env: the variable "
                                  f"{settings.api_key_env} is not set.")
            self._headers["Authorization"] = f"Bearer {key}"
        self._session: aiohttp.ClientSession | None = None
        self._health: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the connection pool and start the health checks (on the event loop)."""
        settings = self._settings
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=settings.connect_timeout,
                                        sock_read=settings.idle_timeout)
        self._session = aiohttp.ClientSession(
            timeout=timeout, headers=self._headers,
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30))
        self._health = asyncio.get_running_loop().create_task(self._check_forever())

    async def close(self) -> None:
        if self._health is not None:
            self._health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health
        if self._session is not None:
            await self._session.close()

    async def open(self, body: Mapping[str, Any], request: ChatRequest, model: str,
                   prompt_estimate: int) -> UpstreamCall:
        """Start ``request`` on a replica; returns once its first chunk has arrived."""
        payload = upstream_body(body, request, model, self.dialect,
                                allow_search=self._settings.allow_search)
        conversation = conversation_key(body)
        for replica in self.replicas.candidates(conversation):
            try:
                return await self._try(replica, payload, request.n, prompt_estimate,
                                       conversation)
            except _TryAnother as exc:
                _log.warning("%s: replica %s failed before the first byte (%s); trying the "
                             "next", self.name, replica.label, exc)
        raise ModelUnavailable(f"No replica of deployment '{self.name}' answered.")

    async def _try(self, replica: Replica, payload: dict[str, Any], n: int,
                   prompt_estimate: int, conversation: str | None) -> UpstreamCall:
        self.replicas.started(replica)
        opened: list[aiohttp.ClientResponse] = []  # to close whatever a timeout interrupts
        try:
            response, lines, first = await asyncio.wait_for(
                self._first_chunk(replica, payload, opened), self._settings.first_byte_timeout)
        except (aiohttp.ClientError, asyncio.TimeoutError, _TryAnother) as exc:
            self.replicas.failed(replica)
            _close(opened)
            raise exc if isinstance(exc, _TryAnother) else _TryAnother(repr(exc)) from exc
        except BaseException:
            self.replicas.finished(replica, None)
            _close(opened)
            raise
        return UpstreamCall(response, lines, first, n=n, prompt_estimate=prompt_estimate,
                            on_end=lambda: self.replicas.finished(replica, conversation))

    async def _first_chunk(self, replica: Replica, payload: dict[str, Any],
                           opened: list[aiohttp.ClientResponse]
                           ) -> tuple[aiohttp.ClientResponse, AsyncIterator[str],
                                      dict[str, Any] | None]:
        """Send the request; the response, its lines and its first chunk."""
        if self._session is None:
            raise ModelUnavailable(f"Deployment '{self.name}' has not started.")
        response = await self._session.post(f"{replica.url}/chat/completions", json=payload)
        opened.append(response)
        if response.status >= 400:
            raise self._refusal(response.status, await response.read(),
                                response.headers.get("Retry-After"))
        lines = response_lines(response)
        return response, lines, await next_chunk(lines)

    @staticmethod
    def _refusal(status: int, body: bytes,
                 retry_after: str | None) -> QwenchatError | _TryAnother:
        if status >= 500:
            return _TryAnother(f"HTTP {status}")
        return error_from(status, body, retry_after)

    async def _check_forever(self) -> None:
        while True:
            await asyncio.gather(*(self._check(r) for r in self.replicas.replicas))
            await asyncio.sleep(self._settings.health_interval)

    async def _check(self, replica: Replica) -> None:
        if self._session is None:
            return
        timeout = aiohttp.ClientTimeout(total=self._settings.connect_timeout)
        try:
            async with self._session.get(f"{replica.url}/models", timeout=timeout) as reply:
                healthy = reply.status == 200
                await reply.read()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            healthy = False
        if healthy != replica.is_up:
            _log.warning("%s: replica %s is %s", self.name, replica.label,
                         "back" if healthy else "down")
        self.replicas.checked(replica, healthy)


def _close(responses: list[aiohttp.ClientResponse]) -> None:
    for response in responses:
        response.close()


def conversation_key(body: Mapping[str, Any]) -> str | None:
    """What stays the same across a conversation's turns: its system and first user
    messages (None for a one-message request, which has no next turn to place)."""
    messages = body.get("messages") or []
    if len(messages) < 2 and not any(isinstance(m, dict) and m.get("role") == "system"
                                     for m in messages):
        return None
    head = [m for m in messages if isinstance(m, dict) and m.get("role") == "system"][:1]
    head += [m for m in messages if isinstance(m, dict) and m.get("role") == "user"][:1]
    text = json.dumps(head, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def estimate_prompt_tokens(body: Mapping[str, Any]) -> int:
    """A prompt's size before the upstream has counted it: ~4 characters per token."""
    text = json.dumps(body.get("messages") or [], ensure_ascii=False)
    text += json.dumps(body.get("tools") or [], ensure_ascii=False)
    return max(1, len(text) // 4)
