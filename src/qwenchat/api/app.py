"""``create_app``: the ASGI application around one ChatService and its Gateway.

The model loads in the background after start-up, so ``/health`` can answer 503 while it
loads (and if loading failed) and 200 once the server is ready; chat requests meanwhile get
503 ``ModelUnavailable``. On loopback ``/health`` also shows the models, engines and
upstream replicas; on any other address only to the admin key (everyone else gets the bare
``{"status": ...}``), and ``/metrics`` needs the admin key there (no key set: nobody sees
them). ``/docs`` and ``/openapi.json`` exist only when ``[server] docs`` is on.
Shutdown stops the service's backends (the engines free their memory, the upstreams'
connections close), then commits the ledger's last rows and closes the gateway's connections.

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

from fastapi import FastAPI, Request
from fastapi.responses import Response

from qwenchat import __version__
from qwenchat.api.body import BodyLimits
from qwenchat.api.errors import install_error_handlers, json_response
from qwenchat.api.playground import install_playground
from qwenchat.api.routes import build_router
from qwenchat.engine import EngineHealth, EngineMetrics
from qwenchat.errors import AuthenticationError
from qwenchat.gateway import Gateway, is_loopback
from qwenchat.service import BackendStatus, ChatService
from qwenchat.settings import ServerSettings

_log = logging.getLogger("qwenchat.api")
WATCH_INTERVAL = 1.0  # seconds between the watchdog's looks at the engines


class _LoadState:
    """Whether the service's models have loaded, and why not if they failed."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.task: asyncio.Task[None] | None = None


def create_app(service: ChatService, gateway: Gateway,
               settings: ServerSettings | None = None, *,
               on_stall: Callable[[], None] | None = None) -> FastAPI:
    """The qwenchat HTTP application serving ``service`` behind ``gateway`` as the server
    ``settings`` say (the playground at ``/`` unless switched off); ``on_stall`` is called
    once if an engine stalls."""
    settings = settings or ServerSettings()
    state = _LoadState()
    is_local = is_loopback(settings.host)

    def is_admin(authorization: str | None) -> bool:
        """Whether the caller may see /metrics (and /health's details beyond loopback)."""
        if not is_local and not gateway.admin_key:
            return False
        try:
            gateway.check_admin(authorization)
        except AuthenticationError:
            return False
        return True

    async def watch() -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            health = service.watch(time.perf_counter())
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
            await service.stop()
            await gateway.close()

    app = FastAPI(title="qwenchat", version=__version__, lifespan=lifespan,
                  docs_url="/docs" if settings.docs else None, redoc_url=None,
                  openapi_url="/openapi.json" if settings.docs else None)
    install_error_handlers(app)
    gateway.metrics.watch_engines(lambda: engine_samples(service.status()))
    gateway.metrics.watch_upstreams(lambda: service.status().upstreams)
    body_limits = BodyLimits(max_bytes=settings.max_body_mb * 1024 * 1024,
                             timeout=settings.body_timeout)
    app.include_router(build_router(service, gateway, int(time.time()), body_limits,
                                    is_local=is_local, is_admin=is_admin))
    if settings.playground:
        install_playground(app)

    @app.get("/health")
    async def health(request: Request) -> Response:
        served = service.status()
        if not (is_local or is_admin(request.headers.get("authorization"))):
            status = "ok" if served.is_ready else "error" if state.error else "loading"
            return json_response({"status": status}, 200 if served.is_ready else 503)
        if served.is_ready:
            return json_response({"status": "ok", "models": service.catalog.ids(),
                                  "running": served.running, "waiting": served.waiting,
                                  "engines": engine_samples(served),
                                  "upstreams": served.upstreams})
        if state.error is not None:
            return json_response({"status": "error", "message": state.error}, 503)
        return json_response({"status": "loading"}, 503)

    return app


def engine_samples(status: BackendStatus) -> dict[str, dict[str, Any]]:
    """Each engine's metrics for /health and /metrics: counters and derived ratios."""
    return {name: _describe_engine(metrics) for name, metrics in status.engines.items()}


def _describe_engine(metrics: EngineMetrics) -> dict[str, Any]:
    return {**dataclasses.asdict(metrics), "prefix_hit_rate": metrics.prefix_hit_rate,
            "overhead_fraction": metrics.overhead_fraction}
