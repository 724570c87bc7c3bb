"""``PreparedChat``: what the HTTP layer holds of an accepted request, whatever serves it.

What ``Backend.open`` returns: a local generation (``LocalChat``) and an upstream stream
(``upstream.UpstreamCall``) both provide it: iterate :meth:`events` once (ChatEvents, ending
with one ``Usage``); :meth:`cancel` when the client left before reading; :meth:`final_usage`
to count what was generated once the client left mid-way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from qwenchat.core import ChatEvent, Usage


class PreparedChat(Protocol):
    """An accepted request whose answer has not been read yet."""

    def events(self) -> AsyncIterator[ChatEvent]:
        """The answer's ChatEvents; leaving early stops the generation."""
        ...

    def cancel(self) -> None:
        """Stop generating: the client went away before reading."""
        ...

    async def final_usage(self, timeout: float = 30.0) -> Usage | None:
        """Stop generating and count what was generated; None if unknown."""
        ...
