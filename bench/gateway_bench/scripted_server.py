"""The server side of `bench/gateway.py`: the real gateway in front of a scripted service
(the real catalog and request checks, a fixed reply, no model), run by `gateway.py serve`."""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from pathlib import Path

from bench.gateway_bench.setups import PROMPT_TOKENS, REPLY, Setup
from qwenchat.api import serve_forever
from qwenchat.catalog import Catalog, Route
from qwenchat.core import ChatEvent, ContentDelta, Finish, FinishReason, Usage
from qwenchat.engine import EngineHealth
from qwenchat.gateway import Gateway, Ledger
from qwenchat.service import Admit, BackendStatus, ChatService, RoutedChat
from qwenchat.settings import Settings


class ScriptedChat:
    """A prepared chat whose events are fixed: what the api layer needs of PreparedChat."""

    async def events(self) -> AsyncIterator[ChatEvent]:
        for text in REPLY:
            yield ContentDelta(choice=0, text=text)
        yield Finish(choice=0, reason=FinishReason.STOP)
        yield Usage(prompt_tokens=PROMPT_TOKENS, completion_tokens=len(REPLY))

    def cancel(self) -> None:
        """Nothing is generating."""

    async def final_usage(self, timeout: float = 30.0) -> Usage | None:
        return Usage(prompt_tokens=PROMPT_TOKENS, completion_tokens=len(REPLY))


class ScriptedBackend:
    """A backend for every id of the real catalog (the service checks each request against
    its model); no model, no engine."""

    def serves(self, _route: Route) -> bool:
        return True

    async def open(self, _chat: RoutedChat, admit: Admit) -> ScriptedChat:
        await admit(PROMPT_TOKENS, 0)
        return ScriptedChat()

    async def start(self) -> None:
        """Nothing to open."""

    def load(self) -> None:
        """Nothing to load."""

    def status(self) -> BackendStatus:
        return BackendStatus()

    def watch(self, _now: float) -> dict[str, EngineHealth]:
        return {}

    def abort_all(self) -> None:
        """Nothing runs."""

    async def stop(self) -> None:
        """Nothing to stop."""


class NullLedger:
    """The ledger of configurations without one: records nothing, waits for nothing."""

    def record(self, _row: object) -> Future[None]:
        done: Future[None] = Future()
        done.set_result(None)
        return done

    async def record_durably(self, _row: object) -> None:
        return None

    def count_refusal(self, _row: object, _model: str) -> None:
        return None

    def close(self, timeout: float = 30.0) -> None:
        return None


def serve(setup: Setup, port: int, config: Path, commits_fd: int | None = None) -> None:
    """Run the scripted server of ``setup`` (settings from ``config`` and QWENCHAT_*). With
    ``commits_fd``, every line read from stdin is answered on that descriptor with the
    ledger's commit count so far (a thread that sleeps in ``read`` otherwise)."""
    settings = Settings.load(config)
    gateway = Gateway.open(settings)
    if not setup.ledger:
        gateway.ledger.close()
        gateway.ledger = NullLedger()  # type: ignore[assignment]
    elif commits_fd is not None:
        threading.Thread(target=answer_commits, args=(gateway.ledger, commits_fd),
                         name="bench-commits", daemon=True).start()
    catalog = Catalog.build(settings, say=print)
    service = ChatService(catalog, [ScriptedBackend()])
    serve_forever(service, gateway,
                  settings.server.model_copy(update={"host": "127.0.0.1", "port": port}))


def answer_commits(ledger: Ledger, fd: int) -> None:
    with open(fd, "w", buffering=1) as out:
        for _ in sys.stdin:
            out.write(f"{ledger.num_commits}\n")
