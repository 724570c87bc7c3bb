"""One choice's raw Qwen3 output text -> reasoning, content and tool-call events.

The caller feeds the detokenized text of one choice in pieces of any size; ``feed`` returns
the events that are certain now and ``finish`` the rest. The merged result never depends on
how the text was split (a tag may arrive as one special token or as ``<t``, ``hi``, ``nk>``).
Pure and synchronous. The rules:

- **Think blocks.** With ``thinking`` on, the output may open with whitespace and
  ``<think>``: text up to ``</think>`` is reasoning, whitespace around it trimmed, and the
  answer follows with its leading whitespace dropped. ``starts_in_reasoning`` (the template
  pre-filled ``<think>``) makes text reasoning from the first character (a repeated opening
  ``<think>`` is dropped). Output that does not open with ``<think>`` is all answer. With
  ``thinking`` off, a think block at the very start is dropped whole: neither reasoning nor
  content. Anywhere else in the answer ``<think>`` and ``</think>`` tags are dropped, so they
  never reach content.
- **Tool calls** (only when ``tools`` are given; otherwise the tags are text):
  ``<tool_call>...</tool_call>`` holding Hermes JSON or Qwen3-Coder XML, parsed and typed per
  the tool's schema by :mod:`qwenchat.chat._toolcalls`. A call opened inside a think block ends
  the reasoning. Calls get indexes 0, 1, 2... in order; without ``parallel_tool_calls`` only the
  first is returned and later blocks are dropped whole. A name no tool has is still returned
  (arguments as written): the client's tool loop can answer it with an error, as it would a
  failing tool. Whitespace right before a call is dropped.
- **Streaming granularity.** A call is emitted when its ``</tool_call>`` arrives: the header
  (``id="call_<24 hex>"``, ``name``, ``arguments=""``), then the whole arguments JSON as one
  fragment. Only then is the call known to be well-formed; a header sent earlier could not be
  taken back if the body turned out malformed.
- **Malformed calls** (bad JSON, no name, bad XML, no ``</tool_call>`` by ``finish``) go back
  verbatim, tags included, to the text they interrupted: content, or reasoning when opened
  inside a think block. Never an exception.
- **After a call**, whitespace is dropped and any other text is content: Qwen3 ends its turn
  after its calls, so such text is rare, and keeping it loses nothing.
- **Holding back.** Text that could still be the start of a tag looked for in the current
  state is held until later text resolves it. At ``finish`` a held unfinished tag (``<tool_``,
  ``</thi``) is dropped: it is what a stop string or ``max_tokens`` cut, not text the model
  meant; held whitespace is released as content, or dropped after reasoning.
- **Phase** is where the model is now, from the text resolved so far: REASONING inside a
  think block (and, with ``thinking`` on, before the output shows whether it opens one);
  TOOL_CALL inside a ``<tool_call>`` block and once a call has been returned; else ANSWER.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from enum import Enum

from qwenchat.chat._toolcalls import parse_tool_call
from qwenchat.core import ChatEvent, ContentDelta, ReasoningDelta, ToolCallDelta, ToolSpec
from qwenchat.core.qwen_format import CALL_CLOSE, CALL_OPEN, THINK_CLOSE, THINK_OPEN

__all__ = ["OutputParser", "Phase"]


class Phase(str, Enum):
    """Where the model is in its output."""

    REASONING = "reasoning"
    ANSWER = "answer"
    TOOL_CALL = "tool_call"


class _State(Enum):
    START = "start"          # before the output shows whether it opens a think block
    REASONING = "reasoning"  # inside a think block whose text is reasoning
    DROPPED = "dropped"      # inside a think block whose text is dropped (thinking off)
    ANSWER = "answer"
    CALL = "call"            # inside <tool_call>: the buffer is the call's body


class OutputParser:
    """Feed one choice's output text in order; collect the events to send."""

    def __init__(self, choice: int, *, thinking: bool, starts_in_reasoning: bool = False,
                 tools: Sequence[ToolSpec] = (), parallel_tool_calls: bool = False) -> None:
        self.choice = choice
        self._tools = {tool.name: tool for tool in tools}
        self._is_parallel = parallel_tool_calls
        # Where a think block opened at the start leads, and where the output goes without one.
        self._think_state = _State.REASONING if thinking else _State.DROPPED
        self._no_think_state = _State.REASONING if starts_in_reasoning else _State.ANSWER
        self._is_reasoning_first = thinking or starts_in_reasoning
        self._state = _State.START
        self._buffer = ""         # text fed but not yet resolved
        self._held_space = ""     # trailing whitespace of the current text, not yet released
        self._is_stripping = False  # drop leading whitespace of the current text
        # The state an open call interrupted, with its held whitespace and stripping flag:
        # a malformed call's text goes back there.
        self._call_origin = _State.ANSWER
        self._call_saved = ("", False)
        self._is_dropping_call = False
        self._call_scan_from = 0
        self._num_tool_calls = 0
        self._is_finished = False
        self._events: list[ChatEvent] = []

    @property
    def phase(self) -> Phase:
        """Where the model is now (see the module docstring)."""
        if self._state is _State.START:
            return Phase.REASONING if self._is_reasoning_first else Phase.ANSWER
        if self._state in (_State.REASONING, _State.DROPPED):
            return Phase.REASONING
        if self._state is _State.CALL or self._num_tool_calls:
            return Phase.TOOL_CALL
        return Phase.ANSWER

    @property
    def num_tool_calls(self) -> int:
        """Tool calls returned so far."""
        return self._num_tool_calls

    def feed(self, text: str) -> list[ChatEvent]:
        """Add the next piece of output; return the events it makes certain."""
        if self._is_finished:
            return []
        self._buffer += text
        self._run(is_final=False)
        return self._take()

    def finish(self) -> list[ChatEvent]:
        """End of output: flush held text and settle open constructs (no ``Finish`` event)."""
        if self._is_finished:
            return []
        self._is_finished = True
        self._run(is_final=True)
        if self._held_space and self._state is _State.ANSWER:
            self._events.append(ContentDelta(self.choice, self._held_space))
        self._held_space = ""
        return self._take()

    # -- the state machine ---------------------------------------------------------------

    def _run(self, *, is_final: bool) -> None:
        steps = {_State.START: self._step_start, _State.REASONING: self._step_think_block,
                 _State.DROPPED: self._step_think_block, _State.ANSWER: self._step_answer,
                 _State.CALL: self._step_call}
        while steps[self._state](is_final):
            pass

    def _step_start(self, is_final: bool) -> bool:
        """Optional whitespace, then maybe ``<think>``; hold while that is undecided."""
        rest = self._buffer.lstrip()
        if rest.startswith(THINK_OPEN):
            self._buffer = rest[len(THINK_OPEN):]
            self._enter(self._think_state, is_stripping=True)
            return True
        if THINK_OPEN.startswith(rest):  # only whitespace and part of "<think>" so far
            if not is_final:
                return False
            self._buffer = self._buffer[: len(self._buffer) - len(rest)]
        self._enter(self._no_think_state, is_stripping=self._no_think_state is _State.REASONING)
        return True

    def _step_think_block(self, is_final: bool) -> bool:
        tag = self._scan([THINK_CLOSE, *self._call_tags()], is_final)
        if tag == THINK_CLOSE:
            self._enter(_State.ANSWER, is_stripping=True)
        elif tag == CALL_OPEN:
            self._open_call()
        return tag is not None

    def _step_answer(self, is_final: bool) -> bool:
        tag = self._scan([THINK_OPEN, THINK_CLOSE, *self._call_tags()], is_final)
        if tag == CALL_OPEN:
            self._open_call()
        return tag is not None  # think tags are simply dropped

    def _step_call(self, is_final: bool) -> bool:
        end = self._buffer.find(CALL_CLOSE, self._call_scan_from)
        if end < 0:
            if not is_final:
                self._call_scan_from = max(0, len(self._buffer) - len(CALL_CLOSE) + 1)
                return False
            body, self._buffer = self._buffer, ""
            self._close_call(body, CALL_OPEN + body, is_closed=False)
            return True
        body, self._buffer = self._buffer[:end], self._buffer[end + len(CALL_CLOSE):]
        self._close_call(body, CALL_OPEN + body + CALL_CLOSE, is_closed=True)
        return True

    # -- tool calls ----------------------------------------------------------------------

    def _open_call(self) -> None:
        self._call_origin = self._state
        self._call_saved = (self._held_space, self._is_stripping)
        self._is_dropping_call = self._num_tool_calls > 0 and not self._is_parallel
        self._call_scan_from = 0
        self._state = _State.CALL

    def _close_call(self, body: str, raw: str, *, is_closed: bool) -> None:
        if self._is_dropping_call:
            self._enter(_State.ANSWER, is_stripping=True)
            return
        call = parse_tool_call(body, self._tools) if is_closed else None
        if call is None:  # malformed: back, verbatim, to the text it interrupted
            self._state = self._call_origin
            self._held_space, self._is_stripping = self._call_saved
            self._emit_text(raw)
            return
        index = self._num_tool_calls
        self._num_tool_calls += 1
        call_id = "call_" + uuid.uuid4().hex[:24]
        self._events.append(ToolCallDelta(self.choice, index, "", id=call_id, name=call.name))
        self._events.append(ToolCallDelta(self.choice, index, call.arguments))
        self._enter(_State.ANSWER, is_stripping=True)

    def _call_tags(self) -> list[str]:
        return [CALL_OPEN] if self._tools else []

    # -- text ----------------------------------------------------------------------------

    def _enter(self, state: _State, *, is_stripping: bool) -> None:
        """Switch to a text state; whitespace held at the end of the previous text is dropped."""
        self._state = state
        self._held_space = ""
        self._is_stripping = is_stripping

    def _scan(self, tags: list[str], is_final: bool) -> str | None:
        """Emit text up to the earliest of ``tags`` and consume it; hold a possible tag start."""
        found = [(at, tag) for tag in tags if (at := self._buffer.find(tag)) >= 0]
        if found:
            at, tag = min(found)
            self._emit_text(self._buffer[:at])
            self._buffer = self._buffer[at + len(tag):]
            return tag
        keep = _partial_tag_length(self._buffer, tags)
        self._emit_text(self._buffer[: len(self._buffer) - keep])
        # At the end, an unfinished tag is what a stop or max_tokens cut: dropped.
        self._buffer = "" if is_final else self._buffer[len(self._buffer) - keep:]
        return None

    def _emit_text(self, text: str) -> None:
        """Text of the current state: reasoning, content, or nothing inside a dropped block."""
        if self._state is _State.DROPPED:
            return
        if self._is_stripping:
            text = text.lstrip()
            if not text:
                return
            self._is_stripping = False
        if self._state is _State.REASONING or self._tools:
            # Hold trailing whitespace: it is dropped if a tag ends this text.
            text = self._held_space + text
            body = text.rstrip()
            self._held_space = text[len(body):]
            text = body
        if not text:
            return
        if self._state is _State.REASONING:
            self._events.append(ReasoningDelta(self.choice, text))
        else:
            self._events.append(ContentDelta(self.choice, text))

    def _take(self) -> list[ChatEvent]:
        """The queued events, neighbouring text deltas of one kind merged; empties the queue."""
        merged: list[ChatEvent] = []
        for event in self._events:
            last = merged[-1] if merged else None
            if isinstance(event, ReasoningDelta) and isinstance(last, ReasoningDelta):
                merged[-1] = ReasoningDelta(self.choice, last.text + event.text)
            elif isinstance(event, ContentDelta) and isinstance(last, ContentDelta):
                merged[-1] = ContentDelta(self.choice, last.text + event.text)
            else:
                merged.append(event)
        self._events = []
        return merged


def _partial_tag_length(text: str, tags: list[str]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of one of ``tags``."""
    longest = 0
    for tag in tags:
        for size in range(min(len(tag) - 1, len(text)), longest, -1):
            if text.endswith(tag[:size]):
                longest = size
                break
    return longest
