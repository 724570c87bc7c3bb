"""``UpstreamBackend``: the ids whose route is an upstream model, answered by the
replicas of its ``[deployments.<name>]`` (``qwenchat.upstream.Upstream``).

Opening a request estimates its prompt's size from the client's body (the upstream counts
it only once it answers), admits it by that estimate and the most it may generate within
the model's context window, and opens its stream on a replica; the body the replica
receives is the client's, translated to the deployment's dialect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from qwenchat.catalog import Catalog, Route
from qwenchat.engine import EngineHealth
from qwenchat.service.backend import Admit, BackendStatus, RoutedChat, max_output_tokens
from qwenchat.settings import UpstreamDeployment
from qwenchat.upstream import Upstream, UpstreamCall, estimate_prompt_tokens


class UpstreamBackend:
    """One ``Upstream`` per deployment that serves some id of the catalog."""

    def __init__(self, catalog: Catalog, deployments: Mapping[str, UpstreamDeployment]) -> None:
        self._upstreams = {name: Upstream(name, config)
                           for name, config in deployments.items()
                           if name in catalog.upstream_deployments()}

    def serves(self, route: Route) -> bool:
        return (route.upstream is not None
                and route.upstream.deployment in self._upstreams)

    async def open(self, chat: RoutedChat, admit: Admit) -> UpstreamCall:
        """Admit the request by its estimated size, then open it on a replica."""
        request, profile, target = chat.request, chat.route.profile, chat.route.upstream
        assert target is not None  # see serves()
        # up to the body cap (6 MiB): measured in a worker thread, never on the event loop
        estimate = await asyncio.to_thread(estimate_prompt_tokens, chat.body)
        await admit(estimate, max_output_tokens(request, profile, estimate,
                                                profile.context_window))
        upstream = self._upstreams[target.deployment]
        return await upstream.open(chat.body, request, target.model, estimate)

    async def start(self) -> None:
        """Open the upstreams' connection pools and health checks (on the event loop)."""
        for upstream in self._upstreams.values():
            await upstream.start()

    def load(self) -> None:
        """Nothing to load: the replicas hold the models."""

    def status(self) -> BackendStatus:
        """Each deployment's replicas: URL, whether up, requests in flight."""
        return BackendStatus(upstreams={
            name: [{"url": r.label, "up": r.is_up, "in_flight": r.in_flight}
                   for r in upstream.replicas.replicas]
            for name, upstream in self._upstreams.items()})

    def watch(self, now: float) -> Mapping[str, EngineHealth]:
        """No engine runs here (replica health is checked in the background)."""
        return {}

    def abort_all(self) -> None:
        """Nothing to abort: an upstream stream ends when its client's connection does."""

    async def stop(self) -> None:
        """Close the upstreams' connections."""
        for upstream in self._upstreams.values():
            await upstream.close()
