"""Run the app under uvicorn, ending running generations as soon as a stop signal arrives.

uvicorn's graceful shutdown waits for open responses to finish; a long stream would hold
the process (then be cut mid-chunk). On SIGINT/SIGTERM the service first aborts every
generation, so each open stream ends at its next token with an in-band error frame and
each waiting request gets a 503; uvicorn then closes the idle connections and exits.

Connections are served by :mod:`qwenchat.api.connections` (header timeout and size, the
connection cap) with uvicorn's keep-alive timeout. The cap must fit under the process's
open-file limit: each connection may hold one file descriptor of its own and one to an
upstream, and the rest of the process needs some. The soft limit is raised towards the hard
one when that is needed; a cap that still does not fit is lowered, with a warning.

When the watchdog finds an engine stalled, the server shuts down the same way and the
process exits with status 70 (``EXIT_STALLED``), for a supervisor to restart it.
"""

from __future__ import annotations

import contextlib
import logging
import resource
from types import FrameType

import uvicorn

from qwenchat.api.app import create_app
from qwenchat.api.connections import ConnectionLimits, guarded_protocol
from qwenchat.gateway import Gateway
from qwenchat.service import ChatService
from qwenchat.settings import ServerSettings

_RESERVED_FILES = 128  # database, model files, logs, Redis
_log = logging.getLogger("qwenchat.api")

EXIT_STALLED = 70  # sysexits' EX_SOFTWARE: an engine stalled, restart the process


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service: ChatService) -> None:
        super().__init__(config)
        self._service = service
        self.is_stalled = False

    def stop_for_stall(self) -> None:
        """An engine stalled: shut down, then exit with ``EXIT_STALLED``."""
        self.is_stalled = True
        self.should_exit = True

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._service.abort_all()
        super().handle_exit(sig, frame)


def serve_forever(service: ChatService, gateway: Gateway, settings: ServerSettings) -> None:
    """Serve ``service`` behind ``gateway`` as ``settings`` say until SIGINT/SIGTERM."""
    server: _Server | None = None

    def on_stall() -> None:
        if server is not None:
            server.stop_for_stall()

    app = create_app(service, gateway, settings, on_stall=on_stall)
    limits = ConnectionLimits(max_connections=connection_cap(settings.max_connections),
                              header_timeout=settings.header_timeout)
    config = uvicorn.Config(app, host=settings.host, port=settings.port,
                            log_level=settings.log_level, timeout_graceful_shutdown=10,
                            http=guarded_protocol(limits),
                            timeout_keep_alive=settings.keep_alive_timeout)
    server = _Server(config, service)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises SIGINT once stopped
        server.run()
    if server.is_stalled:
        raise SystemExit(EXIT_STALLED)


def connection_cap(wanted: int) -> int:
    """``wanted`` open connections, or fewer if the open-file limit cannot hold them."""
    needed = 2 * wanted + _RESERVED_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted
    fitting = max(1, (soft - _RESERVED_FILES) // 2)
    _log.warning("max_connections = %d does not fit the open-file limit (%d): serving at "
                 "most %d connections (raise it with ulimit -n)", wanted, soft, fitting)
    return fitting
