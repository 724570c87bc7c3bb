"""The service as a router: each request goes, checked against its model, to the one backend
serving its route, with the body as parsed; everything else fans out to every backend."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from qwenchat.catalog import Catalog, Route
from qwenchat.catalog.catalog import UpstreamModel
from qwenchat.catalog.table import BUILTIN_PROFILES
from qwenchat.core import ChatEvent, Usage
from qwenchat.engine import EngineHealth
from qwenchat.errors import InvalidParameter, ModelUnavailable
from qwenchat.protocol import parse_chat_body
from qwenchat.service import Admit, Backend, BackendStatus, ChatService, RoutedChat

PLUS = BUILTIN_PROFILES["qwen-plus"]
LOCAL = Route(PLUS, model_file=Path("plus.gguf"))
REMOTE = Route(PLUS, upstream=UpstreamModel("gpu", "Qwen/Qwen3-8B"))
NOWHERE = Route(PLUS)


class Answer:
    """A prepared chat with nothing to say."""

    async def events(self) -> AsyncIterator[ChatEvent]:
        yield Usage(prompt_tokens=1, completion_tokens=0)

    def cancel(self) -> None:
        """Nothing runs."""

    async def final_usage(self, timeout: float = 30.0) -> Usage | None:
        return None


class Recording:
    """A backend for one kind of route that records what reaches it."""

    def __init__(self, local: bool, status: BackendStatus) -> None:
        self.local = local
        self._status = status
        self.opened: list[RoutedChat] = []
        self.calls: list[str] = []

    def serves(self, route: Route) -> bool:
        if self.local:
            return route.model_file is not None
        return route.upstream is not None

    async def open(self, chat: RoutedChat, admit: Admit) -> Answer:
        await admit(7, 11)
        self.opened.append(chat)
        return Answer()

    async def start(self) -> None:
        self.calls.append("start")

    def load(self) -> None:
        self.calls.append("load")

    def status(self) -> BackendStatus:
        return self._status

    def watch(self, now: float) -> Mapping[str, EngineHealth]:
        return {"plus.gguf": EngineHealth.OK} if self.local else {}

    def abort_all(self) -> None:
        self.calls.append("abort_all")

    async def stop(self) -> None:
        self.calls.append("stop")


def service() -> tuple[ChatService, Recording, Recording]:
    local = Recording(True, BackendStatus(is_ready=False, running=1, waiting=2))
    remote = Recording(False, BackendStatus(
        running=3, upstreams={"gpu": [{"url": "http://a", "up": True, "in_flight": 3}]}))
    backends: list[Backend] = [local, remote]
    catalog = Catalog({"qwen-plus": LOCAL})
    return ChatService(catalog, backends), local, remote


def body(**fields: Any) -> bytes:
    return json.dumps({"model": "qwen-plus", "messages": [{"role": "user", "content": "Hi"}],
                       **fields}).encode()


async def no_limits(prompt_tokens: int, max_output_tokens: int) -> None:
    assert (prompt_tokens, max_output_tokens) == (7, 11)


def test_a_request_reaches_only_the_backend_serving_its_route() -> None:
    chat, local, remote = service()
    parsed = parse_chat_body(body(top_k=5))
    asyncio.run(chat.open(parsed, REMOTE, no_limits))
    assert local.opened == []
    [routed] = remote.opened
    assert routed.route is REMOTE
    assert routed.body == json.loads(body(top_k=5))
    assert routed.request.sampling.max_tokens == PLUS.max_output  # checked for its model


def test_the_models_rules_refuse_before_any_backend_sees_the_request() -> None:
    chat, local, remote = service()
    with pytest.raises(InvalidParameter):
        parsed = parse_chat_body(body(max_tokens=PLUS.max_output + 1))
        asyncio.run(chat.open(parsed, LOCAL, no_limits))
    assert local.opened == remote.opened == []


def test_a_route_no_backend_serves_is_unavailable() -> None:
    chat, _, _ = service()
    with pytest.raises(ModelUnavailable):
        asyncio.run(chat.open(parse_chat_body(body()), NOWHERE, no_limits))


def test_status_and_lifecycle_cover_every_backend() -> None:
    chat, local, remote = service()
    status = chat.status()
    assert (status.is_ready, status.running, status.waiting) == (False, 4, 2)
    assert list(status.upstreams) == ["gpu"]
    assert chat.watch(0.0) == {"plus.gguf": EngineHealth.OK}
    asyncio.run(chat.start())
    chat.load()
    chat.abort_all()
    asyncio.run(chat.stop())
    assert local.calls == remote.calls == ["start", "load", "abort_all", "stop"]
