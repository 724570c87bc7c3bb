"""Run the app under uvicorn, ending running generations as soon as a stop signal arrives.

uvicorn's graceful shutdown waits for open responses to finish; a long stream would hold
the process (then be cut mid-chunk). On SIGINT/SIGTERM the service first aborts every
generation, so each open stream ends at its next token with an in-band error frame and
each waiting request gets a 503; uvicorn then closes the idle connections and exits.

When the watchdog finds an engine stalled, the server shuts down the same way and the
process exits with status 70 (``EXIT_STALLED``), for a supervisor to restart it.
"""

from __future__ import annotations

import contextlib
from types import FrameType

import uvicorn

from qwenchat.api.app import create_app
from qwenchat.gateway import Gateway
from qwenchat.service import ChatService

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


def serve_forever(service: ChatService, gateway: Gateway, *, host: str, port: int,
                  log_level: str, playground: bool = True) -> None:
    """Serve ``service`` behind ``gateway`` on ``host:port`` until SIGINT/SIGTERM."""
    server: _Server | None = None

    def on_stall() -> None:
        if server is not None:
            server.stop_for_stall()

    app = create_app(service, gateway, playground=playground, on_stall=on_stall)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=10)
    server = _Server(config, service)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises SIGINT once stopped
        server.run()
    if server.is_stalled:
        raise SystemExit(EXIT_STALLED)
