"""The thread -> asyncio bridge of one local generation (``local_backend.py``).

:class:`EventSink` is the engine's ``TokenSink`` for one request: on the engine thread it
turns each choice's tokens into ChatEvents (``chat.ChoiceOutput``) and hands them to the
request's event loop without blocking either side. The async side iterates
:meth:`EventSink.events`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from qwenchat.chat import ChoiceOutput
from qwenchat.core import ChatEvent, FinishReason, TokenLogprob, Usage
from qwenchat.engine import EndReason, GenerationStats

_END_REASONS = {
    EndReason.END_OF_GENERATION: FinishReason.STOP,
    EndReason.SINK_STOPPED: FinishReason.STOP,
    EndReason.LENGTH: FinishReason.LENGTH,
    EndReason.CANCELLED: FinishReason.STOP,
}


class _JobDone:
    """Marks the end of the event stream."""

    def __init__(self, stats: GenerationStats | None, error: BaseException | None) -> None:
        self.stats = stats
        self.error = error


class EventSink:
    """Receives tokens on the engine thread; yields ChatEvents on the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, outputs: Sequence[ChoiceOutput]) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[list[ChatEvent] | _JobDone] = asyncio.Queue()
        self._outputs = list(outputs)
        self.stats: GenerationStats | None = None

    # -- engine thread -------------------------------------------------------------------
    def on_token(self, choice: int, token: int, piece: bytes,
                 logprob: TokenLogprob | None) -> bool:
        output = self._outputs[choice]
        events = output.feed(piece, logprob)
        if events:
            self._put(events)
        return not output.is_stopped

    def is_reasoning(self, choice: int) -> bool:
        return self._outputs[choice].is_reasoning

    def on_choice_end(self, choice: int, reason: EndReason) -> None:
        self._put(self._outputs[choice].finish(_END_REASONS[reason]))

    def on_job_end(self, stats: GenerationStats) -> None:
        self._put(_JobDone(stats, None))

    def on_error(self, error: BaseException) -> None:
        self._put(_JobDone(None, error))

    def _put(self, item: list[ChatEvent] | _JobDone) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    # -- event loop ----------------------------------------------------------------------
    async def events(self) -> AsyncIterator[ChatEvent]:
        """Every event of the job, ending with ``Usage``; re-raises an engine failure."""
        while True:
            item = await self._queue.get()
            if isinstance(item, _JobDone):
                if item.error is not None:
                    raise item.error
                assert item.stats is not None  # set by on_job_end
                self.stats = item.stats
                yield usage_of(item.stats)
                return
            for event in item:
                yield event

    async def final_stats(self) -> GenerationStats | None:
        """The job's statistics once it has ended, skipping the events nobody read (for a
        client that left); None if it failed."""
        while self.stats is None:
            item = await self._queue.get()
            if isinstance(item, _JobDone):
                if item.error is not None:
                    return None
                self.stats = item.stats
        return self.stats


def usage_of(stats: GenerationStats) -> Usage:
    """The ``Usage`` event of a job's statistics."""
    return Usage(prompt_tokens=stats.prompt_tokens, completion_tokens=stats.completion_tokens,
                 cached_tokens=stats.cached_tokens, reasoning_tokens=stats.reasoning_tokens)
