"""``ChatService``: routes each request to the backend that serves its model id.

The api layer resolves the id in the catalog once (the gateway needs the route's name
before admission) and hands the service the parsed body and that route.
:meth:`ChatService.open` applies the model's rules (``protocol.check_for_model``) and opens
the request on the backend that serves the route (``backend.py``), which admits and
queues or sends it, raising every refusal (errors.py) before the answer starts; the
returned ``PreparedChat`` then yields the ChatEvents and finally the ``Usage``. Everything
else fans out to all backends: start, load, status, the watchdog, abort and stop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from qwenchat.catalog import Catalog, Route
from qwenchat.engine import EngineHealth
from qwenchat.errors import ModelUnavailable
from qwenchat.protocol import ChatBody, check_for_model
from qwenchat.service.backend import Admit, Backend, BackendStatus, RoutedChat, combined
from qwenchat.service.local_backend import LocalBackend
from qwenchat.service.prepared import PreparedChat
from qwenchat.service.upstream_backend import UpstreamBackend
from qwenchat.settings import EngineSettings, UpstreamDeployment


class ChatService:
    """Answers chat requests for every id of the catalog, each from its backend."""

    def __init__(self, catalog: Catalog, backends: Sequence[Backend]) -> None:
        self.catalog = catalog
        self.backends = tuple(backends)

    @classmethod
    def build(cls, catalog: Catalog, settings: EngineSettings,
              deployments: Mapping[str, UpstreamDeployment] | None = None) -> ChatService:
        """Local engines for the catalog's model files, then its upstream deployments."""
        return cls(catalog, [LocalBackend(catalog, settings),
                             UpstreamBackend(catalog, deployments or {})])

    async def open(self, body: ChatBody, route: Route, admit: Admit) -> PreparedChat:
        """Check ``body``'s request against its model and open it on the backend serving
        ``route`` (503 if none does); ``admit`` may refuse it before it starts."""
        request = check_for_model(body.request, route.profile)
        for backend in self.backends:
            if backend.serves(route):
                return await backend.open(RoutedChat(request, route, body.fields), admit)
        raise ModelUnavailable()

    def status(self) -> BackendStatus:
        return combined(backend.status() for backend in self.backends)

    async def start(self) -> None:
        for backend in self.backends:
            await backend.start()

    def load(self) -> None:
        """Load every backend's models (blocking: run it off the event loop)."""
        for backend in self.backends:
            backend.load()

    def watch(self, now: float) -> dict[str, EngineHealth]:
        """The watchdog's look at every engine, by model file name."""
        return {name: health for backend in self.backends
                for name, health in backend.watch(now).items()}

    def abort_all(self) -> None:
        for backend in self.backends:
            backend.abort_all()

    async def stop(self) -> None:
        for backend in self.backends:
            await backend.stop()
