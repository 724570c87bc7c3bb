"""Run the app under uvicorn, ending running generations as soon as a stop signal arrives.

uvicorn's graceful shutdown waits for open responses to finish; a long stream would hold
the process (then be cut mid-chunk). On SIGINT/SIGTERM the service first aborts every
generation, so each open stream ends at its next token with an in-band error frame and
each waiting request gets a 503; uvicorn then closes the idle connections and exits.
"""

from __future__ import annotations

import contextlib
from types import FrameType

import uvicorn

from qwenchat.api.app import create_app
from qwenchat.gateway import Gateway
from qwenchat.service import ChatService


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service: ChatService) -> None:
        super().__init__(config)
        self._service = service

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._service.abort_all()
        super().handle_exit(sig, frame)


def serve_forever(service: ChatService, gateway: Gateway, *, host: str, port: int,
                  log_level: str, playground: bool = True) -> None:
    """Serve ``service`` behind ``gateway`` on ``host:port`` until SIGINT/SIGTERM."""
    app = create_app(service, gateway, playground=playground)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=10)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises SIGINT once stopped
        _Server(config, service).run()
