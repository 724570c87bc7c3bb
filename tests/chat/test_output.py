"""One choice's token bytes -> ContentDelta/Finish events."""

from __future__ import annotations

from qwenchat.chat import ChoiceOutput, OutputParser
from qwenchat.core import (
    ContentDelta,
    Finish,
    FinishReason,
    ReasoningDelta,
    TokenLogprob,
    ToolCallDelta,
    ToolSpec,
)


def entry(text: str) -> TokenLogprob:
    return TokenLogprob(text, -0.5, tuple(text.encode()))


def run(pieces: list[bytes], stops: list[str], reason: FinishReason = FinishReason.STOP
        ) -> tuple[str, list[str], Finish]:
    output = ChoiceOutput(OutputParser(0, thinking=False), stops)
    events = []
    for piece in pieces:
        events += output.feed(piece, entry(piece.decode("utf-8", errors="replace")))
    events += output.finish(reason)
    deltas = [e for e in events if isinstance(e, ContentDelta)]
    finish = events[-1]
    assert isinstance(finish, Finish)
    return ("".join(d.text for d in deltas),
            [lp.token for d in deltas for lp in d.logprobs], finish)


def test_multibyte_characters_split_across_tokens_are_whole() -> None:
    raw = "Ça coûte 5 € 日本".encode()
    pieces = [raw[i : i + 1] for i in range(len(raw))]  # one byte per token
    text, _, finish = run(pieces, [])
    assert text == "Ça coûte 5 € 日本"
    assert finish == Finish(0, FinishReason.STOP)


def test_logprobs_travel_with_their_text_and_die_with_the_stop() -> None:
    text, tokens, finish = run([b"The", b" cap", b"ital", b" is", b" Paris", b"."],
                               [" is P"], FinishReason.LENGTH)
    assert text == "The capital"
    assert tokens == ["The", " cap", "ital"]
    assert finish.reason is FinishReason.STOP  # a stop string beats the engine's reason


def test_held_back_text_is_flushed_at_the_end() -> None:
    text, tokens, finish = run([b"I like Pa"], ["Paris"], FinishReason.LENGTH)
    assert text == "I like Pa"
    assert tokens == ["I like Pa"]
    assert finish.reason is FinishReason.LENGTH


def test_reasoning_and_answer_are_separated_and_logprobs_ride_on_content() -> None:
    output = ChoiceOutput(OutputParser(0, thinking=True))
    events = []
    for piece in [b"<think>", b"\nHmm, France.", b"\n</think>", b"\n\n", b"Paris", b"."]:
        in_answer = not output.is_reasoning
        events += output.feed(piece, entry(piece.decode()) if in_answer else None)
    events += output.finish(FinishReason.STOP)
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    content = [e for e in events if isinstance(e, ContentDelta)]
    assert reasoning == "Hmm, France."
    assert "".join(e.text for e in content) == "Paris."
    assert "".join(lp.token for e in content for lp in e.logprobs) == "\n\nParis."


def test_tool_calls_finish_with_tool_calls() -> None:
    tool = ToolSpec("get_weather", None, {"type": "object",
                                          "properties": {"days": {"type": "integer"}}})
    output = ChoiceOutput(OutputParser(0, thinking=False, tools=[tool]))
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"days": "3"}}\n</tool_call>'
    events = output.feed(text.encode()) + output.finish(FinishReason.STOP)
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert calls[0].name == "get_weather" and calls[0].arguments == ""
    assert "".join(c.arguments for c in calls) == '{"days": 3}'
    assert events[-1] == Finish(0, FinishReason.TOOL_CALLS)
