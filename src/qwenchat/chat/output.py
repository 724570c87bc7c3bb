"""One choice's generated tokens -> ChatEvents.

Token bytes are decoded incrementally (a UTF-8 character may span tokens), passed through
the stop-string matcher (stop strings apply to the raw output), then through the output
parser, which separates reasoning, answer and tool calls. When logprobs are asked for, each
answer token's entry is released once the stop matcher has let its text through, and rides
on the next content delta; entries of text cut by a stop string are dropped.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

from qwenchat.chat.parser import OutputParser, Phase
from qwenchat.chat.stops import StopMatcher
from qwenchat.core import ChatEvent, ContentDelta, Finish, FinishReason, TokenLogprob


class ChoiceOutput:
    """Feed one choice's tokens in order; collect the events to send."""

    def __init__(self, parser: OutputParser, stops: Sequence[str] = ()) -> None:
        self.choice = parser.choice
        self._parser = parser
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = StopMatcher(stops)
        self._decoded_length = 0  # characters decoded so far
        self._released_length = 0  # characters let through by the stop matcher so far
        self._pending: list[tuple[int, TokenLogprob]] = []  # (text end, entry)
        self._ready: list[TokenLogprob] = []  # released, waiting for a content delta

    @property
    def is_stopped(self) -> bool:
        """True once a stop string has matched: generation should end."""
        return self._stops.is_stopped

    @property
    def is_reasoning(self) -> bool:
        """True while the model is inside its reasoning."""
        return self._parser.phase is Phase.REASONING

    def feed(self, piece: bytes, logprob: TokenLogprob | None = None) -> list[ChatEvent]:
        """Add one token's bytes; return the events that are now safe to send."""
        text = self._decoder.decode(piece)
        self._decoded_length += len(text)
        if logprob is not None:
            self._pending.append((self._decoded_length, logprob))
        return self._pass(self._stops.feed(text))

    def finish(self, reason: FinishReason) -> list[ChatEvent]:
        """End the choice: flush held-back text, then the ``Finish`` event."""
        events: list[ChatEvent] = []
        if not self._stops.is_stopped:
            tail = self._decoder.decode(b"", final=True)
            self._decoded_length += len(tail)
            events += self._pass(self._stops.feed(tail) + self._stops.flush())
        events += self._attach(self._parser.finish())
        if self._ready and not self._parser.num_tool_calls:  # entries of the last held text
            events.append(ContentDelta(self.choice, "", tuple(self._ready)))
        if self._parser.num_tool_calls:
            reason = FinishReason.TOOL_CALLS
        elif self._stops.is_stopped:
            reason = FinishReason.STOP
        events.append(Finish(self.choice, reason))
        return events

    def _pass(self, text: str) -> list[ChatEvent]:
        self._released_length += len(text)
        while self._pending and self._pending[0][0] <= self._released_length:
            self._ready.append(self._pending.pop(0)[1])
        if self._stops.is_stopped:
            self._pending.clear()
        return self._attach(self._parser.feed(text)) if text else []

    def _attach(self, events: list[ChatEvent]) -> list[ChatEvent]:
        """Hang the released logprob entries on the first content delta."""
        if not self._ready:
            return events
        for i, event in enumerate(events):
            if isinstance(event, ContentDelta):
                events[i] = ContentDelta(event.choice, event.text, tuple(self._ready))
                self._ready = []
                break
        return events
