"""The replicas of one upstream deployment: which one takes a request, and which are up.

Pure policy, no I/O (the deployment reports what happened):

* a replica is *up* until a request to it fails before its first byte (connection error,
  timeout, 5xx) or a health check fails; it is then *down* until a health check succeeds;
* a request tries the up replicas by fewest requests in flight (then by order), and the
  down ones last: trying a replica that may have recovered beats refusing outright;
* a conversation goes back to the replica that served its previous turn, whose prefix
  cache holds it, while that replica has at most one request more in flight than the
  least loaded one.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from qwenchat.settings import url_for_display

_AFFINITY_SLACK = 1  # requests in flight a warm cache is worth
_MAX_CONVERSATIONS = 10_000


@dataclass
class Replica:
    """One upstream server."""

    url: str
    index: int
    in_flight: int = 0
    is_up: bool = True
    num_failures: int = 0

    @property
    def label(self) -> str:
        """The URL as logs, /health and /metrics show it: without credentials."""
        return url_for_display(self.url)


class ReplicaSet:
    """The replicas of a deployment and the conversations they hold."""

    def __init__(self, urls: list[str]) -> None:
        self.replicas = [Replica(url.rstrip("/"), index) for index, url in enumerate(urls)]
        self._conversations: OrderedDict[str, int] = OrderedDict()

    def candidates(self, conversation: str | None = None) -> list[Replica]:
        """The replicas in the order one request should try them."""
        up = sorted((r for r in self.replicas if r.is_up), key=lambda r: (r.in_flight, r.index))
        down = [r for r in self.replicas if not r.is_up]
        warm = self._warm(conversation, up)
        if warm is not None:
            up.remove(warm)
            up.insert(0, warm)
        return up + down

    def started(self, replica: Replica) -> None:
        replica.in_flight += 1

    def finished(self, replica: Replica, conversation: str | None) -> None:
        """A request on ``replica`` has ended (it had got its first byte)."""
        replica.in_flight = max(0, replica.in_flight - 1)
        if conversation is not None:
            self._conversations[conversation] = replica.index
            self._conversations.move_to_end(conversation)
            while len(self._conversations) > _MAX_CONVERSATIONS:
                self._conversations.popitem(last=False)

    def failed(self, replica: Replica) -> None:
        """A request on ``replica`` failed before its first byte: take it out."""
        replica.in_flight = max(0, replica.in_flight - 1)
        replica.is_up = False
        replica.num_failures += 1

    def checked(self, replica: Replica, is_healthy: bool) -> None:
        """A health check's verdict."""
        replica.is_up = is_healthy
        if not is_healthy:
            replica.num_failures += 1

    def _warm(self, conversation: str | None, up: list[Replica]) -> Replica | None:
        if conversation is None or not up:
            return None
        index = self._conversations.get(conversation)
        if index is None:
            return None
        replica = self.replicas[index]
        if replica.is_up and replica.in_flight <= up[0].in_flight + _AFFINITY_SLACK:
            return replica
        return None
