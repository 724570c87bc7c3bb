"""One choice's generated tokens -> ChatEvents.

Token bytes are decoded incrementally (a UTF-8 character may span tokens), passed through
the stop-string matcher, and released as ``ContentDelta`` events. When logprobs are asked
for, each token's entry travels with the delta that completes its text; tokens swallowed by
a stop string are dropped with it.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

from qwenchat.chat.stops import StopMatcher
from qwenchat.core import ChatEvent, ContentDelta, Finish, FinishReason, TokenLogprob


class ChoiceOutput:
    """Feed one choice's tokens in order; collect the events to send."""

    def __init__(self, choice: int, stops: Sequence[str] = ()) -> None:
        self.choice = choice
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = StopMatcher(stops)
        self._decoded_length = 0  # characters decoded so far
        self._emitted_length = 0  # characters released to the client so far
        self._pending: list[tuple[int, TokenLogprob]] = []  # (text end, entry)

    @property
    def is_stopped(self) -> bool:
        """True once a stop string has matched: generation should end."""
        return self._stops.is_stopped

    def feed(self, piece: bytes, logprob: TokenLogprob | None = None) -> list[ChatEvent]:
        """Add one token's bytes; return the deltas that are now safe to send."""
        text = self._decoder.decode(piece)
        self._decoded_length += len(text)
        if logprob is not None:
            self._pending.append((self._decoded_length, logprob))
        return self._release(self._stops.feed(text))

    def finish(self, reason: FinishReason) -> list[ChatEvent]:
        """End the choice: flush held-back text, then the ``Finish`` event."""
        events: list[ChatEvent] = []
        if not self._stops.is_stopped:
            tail = self._decoder.decode(b"", final=True)
            self._decoded_length += len(tail)
            events += self._release(self._stops.feed(tail) + self._stops.flush())
        if self._stops.is_stopped:
            reason = FinishReason.STOP
        events.append(Finish(self.choice, reason))
        return events

    def _release(self, text: str) -> list[ChatEvent]:
        self._emitted_length += len(text)
        ready: list[TokenLogprob] = []
        while self._pending and self._pending[0][0] <= self._emitted_length:
            ready.append(self._pending.pop(0)[1])
        if self._stops.is_stopped:
            self._pending.clear()
        if not text and not ready:
            return []
        return [ContentDelta(self.choice, text, tuple(ready))]
