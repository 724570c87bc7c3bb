"""``create_app``: the ASGI application around one ChatService and its Gateway.

The model loads in the background after start-up, so ``/health`` can answer 503 while it
loads (and if loading failed) and 200 once the server is ready; chat requests meanwhile get
503 ``ModelUnavailable``. Shutdown stops the engines and frees their memory, then commits
the ledger's last rows and closes the gateway's connections.

A watchdog looks at the engine threads every second: one that died is replaced (its
requests fail with 503); one stuck in a step for over ``stall_timeout`` turns ``/health``
503, fails every waiting request with 503 and calls ``on_stall`` — the server then shuts
down with a non-zero status so that a supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from qwenchat import __version__
from qwenchat.api.errors import install_error_handlers, json_response
from qwenchat.api.playground import install_playground
from qwenchat.api.routes import build_router
from qwenchat.engine import EngineHealth, EngineMetrics
from qwenchat.gateway import Gateway
from qwenchat.service import ChatService

_log = logging.getLogger("qwenchat.api")
WATCH_INTERVAL = 1.0  # seconds between the watchdog's looks at the engines


class _LoadState:
    """Whether the service's models have loaded, and why not if they failed."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.task: asyncio.Task[None] | None = None


def create_app(service: ChatService, gateway: Gateway, *, playground: bool = True,
               on_stall: Callable[[], None] | None = None) -> FastAPI:
    """The qwenchat HTTP application serving ``service`` behind ``gateway`` (and the web
    playground at ``/`` unless ``playground`` is false); ``on_stall`` is called once if an
    engine stalls."""
    state = _LoadState()

    async def watch() -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            health = service.watch_engines(time.perf_counter())
            if EngineHealth.STALLED in health.values():
                state.error = "The model's engine stopped responding; the server is restarting."
                if on_stall is not None:
                    on_stall()
                return

    async def load() -> None:
        try:
            await asyncio.to_thread(service.load)
            _log.info("ready: serving %s", ", ".join(service.catalog.ids()))
        except Exception as exc:
            state.error = str(exc)
            _log.error("model loading failed", exc_info=exc)
        # What exists now lives as long as the server: keep it out of the garbage
        # collector's full passes, which otherwise stall every open request (~90 ms each
        # under load, see BENCHMARKS.md "Gateway overhead").
        gc.collect()
        gc.freeze()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        state.task = asyncio.create_task(load())
        watchdog = asyncio.create_task(watch())
        try:
            yield
        finally:
            watchdog.cancel()
            await asyncio.shield(state.task)
            await asyncio.to_thread(service.close)
            await service.stop()
            await gateway.close()

    app = FastAPI(title="qwenchat", version=__version__, lifespan=lifespan,
                  docs_url="/docs", redoc_url=None)
    install_error_handlers(app)
    gateway.metrics.watch_engines(lambda: engine_samples(service))
    gateway.metrics.watch_upstreams(service.upstream_status)
    app.include_router(build_router(service, gateway, int(time.time())))
    if playground:
        install_playground(app)

    @app.get("/health")
    async def health() -> Response:
        if service.is_ready:
            engines = engine_samples(service)
            return json_response({"status": "ok", "models": service.catalog.ids(),
                                  **service.load_counts(), "engines": engines,
                                  "upstreams": service.upstream_status()})
        if state.error is not None:
            return json_response({"status": "error", "message": state.error}, 503)
        return json_response({"status": "loading"}, 503)

    return app


def engine_samples(service: ChatService) -> dict[str, dict[str, Any]]:
    """Each engine's metrics for /health and /metrics: counters and derived ratios."""
    return {name: _describe_engine(metrics)
            for name, metrics in service.engine_metrics().items()}


def _describe_engine(metrics: EngineMetrics) -> dict[str, Any]:
    return {**dataclasses.asdict(metrics), "prefix_hit_rate": metrics.prefix_hit_rate,
            "overhead_fraction": metrics.overhead_fraction}
