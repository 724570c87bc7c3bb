"""Raw Qwen3 output -> reasoning/content/tool-call events, however the text is split.

The property (STYLE habit 8): for every output in the corpus, feeding it whole, split in two
at every character boundary, one character at a time, or in random chunks gives the same
merged events, and those equal what the output means.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from qwenchat.chat.parser import OutputParser, Phase
from qwenchat.core import ChatEvent, ContentDelta, ReasoningDelta, ToolCallDelta, ToolSpec
from qwenchat.core.qwen_format import CALL_OPEN, THINK_CLOSE, THINK_OPEN

WEATHER = ToolSpec("get_weather", "Current weather and forecast", {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                   "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city"],
})
ALARM = ToolSpec("set_alarm", None, {
    "type": "object",
    "properties": {"hour": {"type": "integer"}, "enabled": {"type": "boolean"},
                   "options": {"type": "object"}, "label": {"type": "string"},
                   "ratio": {"type": "number"}, "tags": {"type": ["array", "null"]}},
})
TOOLS = (WEATHER, ALARM)
TAGS = (THINK_OPEN, THINK_CLOSE, CALL_OPEN)


def hermes(name: str, arguments: str) -> str:
    return f'<tool_call>\n{{"name": "{name}", "arguments": {arguments}}}\n</tool_call>'


PARIS = hermes("get_weather", '{"city": "Paris", "days": "3"}')
ROME = hermes("get_weather", '{"city": "Rome", "unit": "celsius"}')
CODER = ("<tool_call>\n<function=set_alarm>\n<parameter=hour>\n7\n</parameter>\n"
         "<parameter=enabled>\ntrue\n</parameter>\n<parameter=options>\n"
         '{"snooze": 5, "sound": "bell"}\n</parameter>\n<parameter=label>\n'
         "Wake up\nnow\n</parameter>\n<parameter=ratio>\n0.5\n</parameter>\n"
         '<parameter=tags>\n["work", "daily"]\n</parameter>\n</function>\n</tool_call>')
BAD_JSON = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}\n</tool_call>'
UNCLOSED = '<tool_call>\n{"name": "get_weather", "argu'


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    thinking: bool = False
    starts_in_reasoning: bool = False
    tools: tuple[ToolSpec, ...] = TOOLS
    parallel: bool = False
    reasoning: str = ""
    content: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    raw_tags_in_content: bool = False  # malformed/unclosed call text deliberately returned


CORPUS = [
    Case("plain-answer", "The capital of France is Paris.",
         content="The capital of France is Paris."),
    Case("answer-with-angle-brackets", "If a < b and x<y, then <b>1 < 2</b>.\n",
         content="If a < b and x<y, then <b>1 < 2</b>.\n"),
    Case("think-answer",
         "<think>\nThe user asks for the capital.\n\nIt is Paris.\n</think>\n\n"
         "The capital of France is **Paris**.", thinking=True,
         reasoning="The user asks for the capital.\n\nIt is Paris.",
         content="The capital of France is **Paris**."),
    Case("think-tool-call",
         "<think>\nI should check the weather.\n</think>\n\n" + PARIS, thinking=True,
         reasoning="I should check the weather.",
         calls=[("get_weather", {"city": "Paris", "days": 3})]),
    Case("tool-call-inside-think",
         "<think>\nI need the weather first.\n" + PARIS, thinking=True,
         reasoning="I need the weather first.",
         calls=[("get_weather", {"city": "Paris", "days": 3})]),
    Case("tool-call-inside-think-then-close",
         "<think>\nI need the weather first.\n" + PARIS + "\n</think>\n\n", thinking=True,
         reasoning="I need the weather first.",
         calls=[("get_weather", {"city": "Paris", "days": 3})]),
    Case("two-parallel-calls", PARIS + "\n" + ROME, parallel=True,
         calls=[("get_weather", {"city": "Paris", "days": 3}),
                ("get_weather", {"city": "Rome", "unit": "celsius"})]),
    Case("two-calls-parallel-off", PARIS + "\n" + ROME + "\n" + CODER,
         calls=[("get_weather", {"city": "Paris", "days": 3})]),
    Case("later-unclosed-call-dropped", PARIS + "\n" + UNCLOSED,
         calls=[("get_weather", {"city": "Paris", "days": 3})]),
    Case("malformed-bad-json", "Let me check.\n" + BAD_JSON,
         content="Let me check.\n" + BAD_JSON, raw_tags_in_content=True),
    Case("malformed-then-valid", BAD_JSON + "\n" + ROME,
         content=BAD_JSON, raw_tags_in_content=True,
         calls=[("get_weather", {"city": "Rome", "unit": "celsius"})]),
    Case("malformed-inside-think",
         "<think>\nMaybe <tool_call>\n{oops}\n</tool_call> no.\n</think>\n\nDone.", thinking=True,
         reasoning="Maybe <tool_call>\n{oops}\n</tool_call> no.", content="Done."),
    Case("unclosed-call-at-finish", "Let me check.\n" + UNCLOSED,
         content="Let me check.\n" + UNCLOSED, raw_tags_in_content=True),
    Case("coder-xml-typed", CODER,
         calls=[("set_alarm", {"hour": 7, "enabled": True,
                               "options": {"snooze": 5, "sound": "bell"},
                               "label": "Wake up\nnow", "ratio": 0.5,
                               "tags": ["work", "daily"]})]),
    Case("coder-xml-untypable-value-stays-text",
         "<tool_call>\n<function=set_alarm>\n<parameter=hour>\nseven\n</parameter>\n"
         "</function>\n</tool_call>", calls=[("set_alarm", {"hour": "seven"})]),
    Case("hermes-arguments-as-string-and-typed",
         '<tool_call>\n{"name": "set_alarm", "arguments": "{\\"hour\\": \\"08\\", '
         '\\"enabled\\": \\"false\\", \\"ratio\\": 2.0, \\"label\\": \\"7\\"}"}\n</tool_call>',
         calls=[("set_alarm", {"hour": 8, "enabled": False, "ratio": 2.0, "label": "7"})]),
    Case("unknown-function-still-a-call", hermes("get_time", '{"zone": "UTC", "n": "5"}'),
         calls=[("get_time", {"zone": "UTC", "n": "5"})]),
    Case("unicode",
         "<think>\n用户想知道东京的天气 🌦️，我来查一下。\n</think>\n\n"
         + hermes("get_weather", '{"city": "東京", "days": 2}'), thinking=True,
         reasoning="用户想知道东京的天气 🌦️，我来查一下。",
         calls=[("get_weather", {"city": "東京", "days": 2})]),
    Case("unicode-answer", "<think>\nCafé — naïve 🤔\n</think>\n\n答案是 42 😊。", thinking=True,
         reasoning="Café — naïve 🤔", content="答案是 42 😊。"),
    Case("truncated-in-call-tag", "The answer is 42.<tool_", content="The answer is 42."),
    Case("truncated-in-think-tag", "<thi", thinking=True),
    Case("truncated-in-close-tag", "<think>\nHmm, let me</thi", thinking=True,
         reasoning="Hmm, let me"),
    Case("truncated-reasoning", "<think>\nStep 1: add 2 and", thinking=True,
         reasoning="Step 1: add 2 and"),
    Case("thinking-on-model-does-not-think", "Sure! Here you go.", thinking=True,
         content="Sure! Here you go."),
    Case("thinking-on-answer-starts-with-tag", "<b>Bold</b> start", thinking=True,
         content="<b>Bold</b> start"),
    Case("thinking-on-no-think-tool-call", PARIS, thinking=True,
         calls=[("get_weather", {"city": "Paris", "days": 3})]),
    Case("thinking-off-stray-empty-think", "<think>\n\n</think>\n\nHello there.",
         content="Hello there."),
    Case("thinking-off-stray-think-with-text", "<think>\nsecret musing\n</think>\n\nHi.",
         content="Hi."),
    Case("thinking-off-call-inside-stray-think", "<think>\nhidden\n" + ROME + "\n</think>\n\n",
         calls=[("get_weather", {"city": "Rome", "unit": "celsius"})]),
    Case("starts-in-reasoning",
         "Let me think about this.\n2 + 2 = 4.\n</think>\n\nThe answer is 4.",
         thinking=True, starts_in_reasoning=True,
         reasoning="Let me think about this.\n2 + 2 = 4.", content="The answer is 4."),
    Case("starts-in-reasoning-repeated-open", "<think>\nHmm.\n</think>\n\nOK", thinking=True,
         starts_in_reasoning=True, reasoning="Hmm.", content="OK"),
    Case("starts-in-reasoning-tool-call", "Need data.\n" + ROME, thinking=True,
         starts_in_reasoning=True, reasoning="Need data.",
         calls=[("get_weather", {"city": "Rome", "unit": "celsius"})]),
    Case("no-tools-tags-are-text", "Wrap it in <tool_call> tags.", tools=(),
         content="Wrap it in <tool_call> tags.", raw_tags_in_content=True),
    Case("text-after-call", PARIS + "\n\nI will wait for the result.\n",
         content="I will wait for the result.\n",
         calls=[("get_weather", {"city": "Paris", "days": 3})]),
    Case("content-before-call", "Checking the weather now.\n\n" + PARIS,
         content="Checking the weather now.",
         calls=[("get_weather", {"city": "Paris", "days": 3})]),
    Case("think-tags-mid-answer-dropped", "A<think>B</think>C", content="ABC"),
]


@dataclass(frozen=True)
class Merged:
    reasoning: str
    content: str
    calls: tuple[tuple[int, str | None, str], ...]  # index, name, arguments


def run(case: Case, pieces: list[str]) -> list[ChatEvent]:
    parser = OutputParser(0, thinking=case.thinking, starts_in_reasoning=case.starts_in_reasoning,
                          tools=case.tools, parallel_tool_calls=case.parallel)
    events: list[ChatEvent] = []
    for piece in pieces:
        events += parser.feed(piece)
    events += parser.finish()
    assert parser.num_tool_calls == len(case.calls)
    return events


def merge(events: list[ChatEvent]) -> Merged:
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    content = "".join(e.text for e in events if isinstance(e, ContentDelta))
    calls: dict[int, tuple[str | None, str]] = {}
    for event in events:
        assert isinstance(event, ReasoningDelta | ContentDelta | ToolCallDelta)
        if isinstance(event, ToolCallDelta):
            name, arguments = calls.get(event.index, (None, ""))
            calls[event.index] = (name or event.name, arguments + event.arguments)
    return Merged(reasoning, content,
                  tuple((index, *call) for index, call in sorted(calls.items())))


def check_structure(case: Case, events: list[ChatEvent]) -> None:
    """docs/api.md's streaming rules, and no tag leaking into content."""
    seen: list[int] = []
    for event in events:
        if isinstance(event, ToolCallDelta):
            assert event.choice == 0
            if event.index not in seen:
                assert event.index == len(seen), "indexes are 0, 1, 2... in order"
                assert event.arguments == "" and event.name
                assert event.id is not None and re.fullmatch(r"call_[0-9a-f]{24}", event.id)
                seen.append(event.index)
            else:
                assert event.id is None and event.name is None
        elif isinstance(event, ReasoningDelta | ContentDelta):
            assert event.text, "no empty deltas"
    if not case.raw_tags_in_content:
        for event in events:
            if isinstance(event, ContentDelta):
                assert not any(tag in event.text for tag in TAGS)


def expected(case: Case) -> Merged:
    calls = tuple((i, name, json.dumps(arguments, ensure_ascii=False))
                  for i, (name, arguments) in enumerate(case.calls))
    return Merged(case.reasoning, case.content, calls)


@pytest.mark.parametrize("case", CORPUS, ids=[case.id for case in CORPUS])
def test_every_split_gives_the_same_merged_events(case: Case) -> None:
    whole = run(case, [case.text])
    check_structure(case, whole)
    assert merge(whole) == expected(case)
    text = case.text
    for cut in range(len(text) + 1):
        events = run(case, [text[:cut], text[cut:]])
        check_structure(case, events)
        assert merge(events) == expected(case), f"split at {cut}: {text[:cut]!r}"
    by_char = run(case, list(text))
    check_structure(case, by_char)
    assert merge(by_char) == expected(case)
    rng = random.Random(case.id)
    for _ in range(20):
        cuts = sorted(rng.sample(range(len(text) + 1), min(4, len(text) + 1)))
        pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
        assert merge(run(case, pieces)) == expected(case), pieces


def test_ids_are_distinct_and_arguments_are_one_fragment_at_close() -> None:
    parser = OutputParser(0, thinking=False, tools=TOOLS, parallel_tool_calls=True)
    assert parser.feed(PARIS[:-1]) == []  # the call is not emitted before "</tool_call>"
    first = parser.feed(PARIS[-1:] + "\n" + ROME)
    assert [(e.index, e.arguments) for e in first if isinstance(e, ToolCallDelta)] == [
        (0, ""), (0, '{"city": "Paris", "days": 3}'),
        (1, ""), (1, '{"city": "Rome", "unit": "celsius"}')]
    ids = [e.id for e in first if isinstance(e, ToolCallDelta) and e.id]
    assert len(set(ids)) == 2
    assert parser.finish() == []
    assert parser.num_tool_calls == 2


def test_text_is_released_as_soon_as_it_cannot_be_a_tag() -> None:
    parser = OutputParser(0, thinking=True, tools=TOOLS)
    assert parser.feed("<thi") == []
    assert parser.feed("nk>\nHello") == [ReasoningDelta(0, "Hello")]
    assert parser.feed(" world</th") == [ReasoningDelta(0, " world")]
    assert parser.feed("ink>\n\nAns") == [ContentDelta(0, "Ans")]
    assert parser.feed("wer <") == [ContentDelta(0, "wer")]  # " <" could open a call
    assert parser.feed("3") == [ContentDelta(0, " <3")]
    assert parser.finish() == []


def test_phase_follows_the_output() -> None:
    parser = OutputParser(0, thinking=True, tools=TOOLS)
    assert parser.phase is Phase.REASONING  # thinking expected until the output says otherwise
    parser.feed("<think>\nPlan.</thi")
    assert parser.phase is Phase.REASONING  # a half tag decides nothing
    parser.feed("nk>\n\nText <tool_c")
    assert parser.phase is Phase.ANSWER
    parser.feed('all>\n{"name": "get_weather", ')
    assert parser.phase is Phase.TOOL_CALL
    parser.feed('"arguments": {"city": "Oslo"}}\n</tool_call>\n')
    assert parser.phase is Phase.TOOL_CALL  # stays once a call is returned
    parser.finish()
    assert parser.phase is Phase.TOOL_CALL and parser.num_tool_calls == 1


def test_phase_when_the_model_does_not_think_or_the_call_is_malformed() -> None:
    parser = OutputParser(0, thinking=True, tools=TOOLS)
    parser.feed("  <")
    assert parser.phase is Phase.REASONING
    parser.feed("b>")
    assert parser.phase is Phase.ANSWER
    parser.feed("<tool_call>{oops")
    assert parser.phase is Phase.TOOL_CALL
    assert parser.feed("}</tool_call>") == [ContentDelta(0, "<tool_call>{oops}</tool_call>")]
    assert parser.phase is Phase.ANSWER and parser.num_tool_calls == 0


def test_phase_with_thinking_off_and_a_prefilled_think() -> None:
    off = OutputParser(0, thinking=False)
    assert off.phase is Phase.ANSWER
    off.feed("<think>\n")
    assert off.phase is Phase.REASONING  # a stray block: its text is dropped
    assert off.feed("musing</think>\n\nHi") == [ContentDelta(0, "Hi")]
    assert off.phase is Phase.ANSWER
    prefilled = OutputParser(0, thinking=True, starts_in_reasoning=True)
    assert prefilled.phase is Phase.REASONING
    assert prefilled.feed("x") == [ReasoningDelta(0, "x")]
    assert prefilled.phase is Phase.REASONING


def test_finish_is_final() -> None:
    parser = OutputParser(3, thinking=False)
    assert parser.feed("Hi") == [ContentDelta(3, "Hi")]
    assert parser.finish() == []
    assert parser.feed("more") == [] and parser.finish() == []
