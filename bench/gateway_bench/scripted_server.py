"""The server side of `bench/gateway.py`: the real gateway in front of a scripted service
(the real catalog and request checks, a fixed reply, no model), run by `gateway.py serve`."""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from bench.gateway_bench.setups import PROMPT_TOKENS, REPLY, Setup
from qwenchat.api import serve_forever
from qwenchat.catalog import Catalog
from qwenchat.core import ChatEvent, ChatRequest, ContentDelta, Finish, FinishReason, Usage
from qwenchat.gateway import Gateway, Ledger
from qwenchat.protocol import check_for_model
from qwenchat.service import ChatService
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


class ScriptedService(ChatService):
    """The real catalog and request checks; no model, no engine."""

    @property
    def is_ready(self) -> bool:
        return True

    def load(self) -> None:
        """Nothing to load."""

    def close(self) -> None:
        """Nothing to stop."""

    def abort_all(self) -> None:
        """Nothing runs."""

    def load_counts(self) -> dict[str, int]:
        return {"running": 0, "waiting": 0}

    def engine_metrics(self) -> dict[str, Any]:
        return {}

    async def prepare(self, request: ChatRequest, *,  # type: ignore[override]
                      admit: Callable[[int], Awaitable[None]] | None = None,
                      body: bytes = b"") -> ScriptedChat:
        check_for_model(request, self.catalog.resolve(request.model).profile)
        if admit is not None:
            await admit(PROMPT_TOKENS)
        return ScriptedChat()


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
    service = ScriptedService(catalog, settings.engine)
    serve_forever(service, gateway,
                  settings.server.model_copy(update={"host": "127.0.0.1", "port": port}))


def answer_commits(ledger: Ledger, fd: int) -> None:
    with open(fd, "w", buffering=1) as out:
        for _ in sys.stdin:
            out.write(f"{ledger.num_commits}\n")
