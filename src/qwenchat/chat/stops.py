"""Stop strings found in streamed text, however it is split into tokens or chunks.

The matcher holds back the longest tail of the text that could still begin a stop string,
so a stop string never reaches the client even when it spans several feeds; text before a
match is released, the match and everything after it are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence


class StopMatcher:
    """Incremental stop-string detection for one output stream."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(stop for stop in stops if stop)
        self._held = ""
        self.is_stopped = False

    def feed(self, text: str) -> str:
        """Add ``text``; return what is now safe to emit (sets ``is_stopped`` on a match)."""
        if self.is_stopped:
            return ""
        if not self._stops:
            return text
        buffer = self._held + text
        match = self._earliest_match(buffer)
        if match is not None:
            self.is_stopped = True
            self._held = ""
            return buffer[:match]
        keep = self._held_back_length(buffer)
        self._held = buffer[len(buffer) - keep:] if keep else ""
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        """The held-back tail, once the stream has ended without a match."""
        held, self._held = self._held, ""
        return "" if self.is_stopped else held

    def _earliest_match(self, buffer: str) -> int | None:
        positions = [i for i in (buffer.find(stop) for stop in self._stops) if i >= 0]
        return min(positions) if positions else None

    def _held_back_length(self, buffer: str) -> int:
        """Length of the longest suffix of ``buffer`` that is a proper prefix of a stop."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(buffer)), longest, -1):
                if buffer.endswith(stop[:size]):
                    longest = size
                    break
        return longest
