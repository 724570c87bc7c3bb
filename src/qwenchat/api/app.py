"""``create_app``: the ASGI application around one ChatService.

The model loads in the background after start-up, so ``/health`` can answer 503 while it
loads (and if loading failed) and 200 once the server is ready; chat requests meanwhile get
503 ``ModelUnavailable``. Shutdown stops the engines and frees their memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from qwenchat import __version__
from qwenchat.api.errors import install_error_handlers, json_response
from qwenchat.api.routes import build_router
from qwenchat.engine import EngineMetrics
from qwenchat.service import ChatService

_log = logging.getLogger("qwenchat.api")


class _LoadState:
    """Whether the service's models have loaded, and why not if they failed."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.task: asyncio.Task[None] | None = None


def create_app(service: ChatService) -> FastAPI:
    """The qwenchat HTTP application serving ``service``."""
    state = _LoadState()

    async def load() -> None:
        try:
            await asyncio.to_thread(service.load)
            _log.info("ready: serving %s", ", ".join(service.catalog.ids()))
        except Exception as exc:
            state.error = str(exc)
            _log.error("model loading failed", exc_info=exc)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.task = asyncio.create_task(load())
        try:
            yield
        finally:
            await asyncio.shield(state.task)
            await asyncio.to_thread(service.close)

    app = FastAPI(title="qwenchat", version=__version__, lifespan=lifespan,
                  docs_url="/docs", redoc_url=None)
    install_error_handlers(app)
    app.include_router(build_router(service, int(time.time())))

    @app.get("/health")
    async def health() -> Response:
        if service.is_ready:
            engines = {name: _describe_engine(metrics)
                       for name, metrics in service.engine_metrics().items()}
            return json_response({"status": "ok", "models": service.catalog.ids(),
                                  **service.load_counts(), "engines": engines})
        if state.error is not None:
            return json_response({"status": "error", "message": state.error}, 503)
        return json_response({"status": "loading"}, 503)

    return app


def _describe_engine(metrics: EngineMetrics) -> dict[str, Any]:
    """An engine's metrics for /health: the counters and the ratios derived from them."""
    return {**dataclasses.asdict(metrics), "prefix_hit_rate": metrics.prefix_hit_rate,
            "overhead_fraction": metrics.overhead_fraction}
