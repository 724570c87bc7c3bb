"""``Backend``: what answers the requests of some of the catalog's model ids.

The service routes each request to the one backend that :meth:`~Backend.serves` its id's
route (``local_backend.py``: the llama.cpp engines of this process;
``upstream_backend.py``: OpenAI-compatible replicas). :meth:`Backend.open` receives the
request as a :class:`RoutedChat` — checked against its model, with the route the catalog
resolved and the client's body as parsed JSON — and an :data:`Admit` callback, which it
calls with the prompt's token count and :func:`max_output_tokens` before anything is queued
or sent; it raises every refusal before the answer starts, and returns a ``PreparedChat``.

A backend's life: :meth:`~Backend.start` on the event loop before the server takes requests,
:meth:`~Backend.load` off the event loop (the server answers ``/health`` 503 until
:attr:`BackendStatus.is_ready`), :meth:`~Backend.watch` every second from the watchdog,
:meth:`~Backend.abort_all` when a signal stops the server, :meth:`~Backend.stop` last.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from qwenchat.catalog import Route
from qwenchat.core import ChatRequest, ModelProfile
from qwenchat.engine import EngineHealth, EngineMetrics
from qwenchat.errors import QwenchatError
from qwenchat.service.prepared import PreparedChat

Admit = Callable[[int, int], Awaitable[None]]
"""Called with a request's prompt tokens and the most it may generate; raises to refuse."""


@dataclass(frozen=True, slots=True)
class RoutedChat:
    """A request as a backend receives it."""

    request: ChatRequest  # checked against its model's rules (``check_for_model``)
    route: Route  # what the catalog resolved the request's model id to
    body: Mapping[str, Any]  # the client's body as parsed JSON, which an upstream forwards


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """What ``/health`` and ``/metrics`` show of a backend."""

    is_ready: bool = True
    running: int = 0  # requests generating now
    waiting: int = 0  # requests queued
    engines: Mapping[str, EngineMetrics] = field(default_factory=dict)  # by model file name
    # by upstream deployment: each replica's {"url", "up", "in_flight"}
    upstreams: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)


class Backend(Protocol):
    """Serves the ids of the deployments it :meth:`serves`."""

    def serves(self, route: Route) -> bool:
        """Whether this backend answers ``route``'s requests."""
        ...

    async def open(self, chat: RoutedChat, admit: Admit) -> PreparedChat:
        """Admit and start ``chat``; raise any refusal before its answer starts."""
        ...

    async def start(self) -> None:
        """Open connections and start background checks (on the event loop, quickly)."""
        ...

    def load(self) -> None:
        """Load what takes long, such as model files (blocking: run it off the event loop)."""
        ...

    def status(self) -> BackendStatus:
        """Readiness, load and per-engine or per-replica numbers."""
        ...

    def watch(self, now: float) -> Mapping[str, EngineHealth]:
        """The watchdog's look at the engines this backend runs, by model file name."""
        ...

    def abort_all(self) -> None:
        """End every running and queued request now (the server is stopping)."""
        ...

    async def stop(self) -> None:
        """Stop generating, free memory and close connections."""
        ...


def combined(statuses: Iterable[BackendStatus]) -> BackendStatus:
    """Several backends' status as one: ready when all are, load summed."""
    total = BackendStatus()
    for status in statuses:
        total = BackendStatus(
            is_ready=total.is_ready and status.is_ready,
            running=total.running + status.running, waiting=total.waiting + status.waiting,
            engines={**total.engines, **status.engines},
            upstreams={**total.upstreams, **status.upstreams})
    return total


def max_output_tokens(request: ChatRequest, profile: ModelProfile, prompt_tokens: int,
                      context: int) -> int:
    """The most a checked ``request`` may generate, which the rate limits reserve: per
    choice its ``max_tokens``, plus its thinking budget (the model's maximum if unset) when
    it thinks, but never more than its ``max_completion_tokens`` (reasoning and answer
    together) nor than a ``context`` of tokens leaves after the prompt."""
    per_choice = checked_max_tokens(request)
    if request.enable_thinking:
        per_choice += request.thinking_budget or profile.max_thinking_budget
    total = request.sampling.max_completion_tokens
    if total is not None:
        per_choice = min(per_choice, total)
    per_choice = min(per_choice, max(0, context - prompt_tokens))
    return per_choice * request.n


def checked_max_tokens(request: ChatRequest) -> int:
    """A checked request's ``max_tokens`` per choice (``check_for_model`` always sets it)."""
    if request.sampling.max_tokens is None:  # check_for_model always sets it: a bug
        raise QwenchatError("The request was not checked against its model.")
    return request.sampling.max_tokens
