"""Tests of the response builders: CompletionAssembler, ChunkEncoder, models_list, ids."""

from __future__ import annotations

import json
import re
from typing import Any

from qwenchat.core import (
    ChatEvent,
    ContentDelta,
    Finish,
    FinishReason,
    ReasoningDelta,
    TokenLogprob,
    ToolCallDelta,
    TopLogprob,
    Usage,
)
from qwenchat.protocol import ChunkEncoder, CompletionAssembler, models_list, new_completion_id

ID = "chatcmpl-test"
CREATED = 1_700_000_000
MODEL = "qwen-plus"
USAGE = Usage(prompt_tokens=10, completion_tokens=7, cached_tokens=4, reasoning_tokens=3)
USAGE_DICT = {
    "prompt_tokens": 10,
    "completion_tokens": 7,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 3},
}
TOKEN = TokenLogprob(
    token="Hi",
    logprob=-0.5,
    bytes=(72, 105),
    top_logprobs=(TopLogprob("Hi", -0.5, (72, 105)), TopLogprob("Hey", -1.5, (72, 101, 121))),
)
TOKEN_DICT = {
    "token": "Hi",
    "logprob": -0.5,
    "bytes": [72, 105],
    "top_logprobs": [
        {"token": "Hi", "logprob": -0.5, "bytes": [72, 105]},
        {"token": "Hey", "logprob": -1.5, "bytes": [72, 101, 121]},
    ],
}


def assemble(events: list[ChatEvent], n: int = 1) -> dict[str, Any]:
    assembler = CompletionAssembler(completion_id=ID, created=CREATED, model=MODEL, n=n)
    for event in events:
        assembler.add(event)
    return assembler.result()


def encoder(n: int = 1, include_usage: bool = False) -> ChunkEncoder:
    return ChunkEncoder(
        completion_id=ID, created=CREATED, model=MODEL, n=n, include_usage=include_usage
    )


def chunk(
    index: int, delta: dict[str, Any], finish_reason: str | None = None, logprobs: Any = None
) -> dict[str, Any]:
    return {
        "id": ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "system_fingerprint": None,
        "choices": [
            {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": logprobs}
        ],
        "usage": None,
    }


# --- ids and /models ------------------------------------------------------------------------


def test_new_completion_id_is_chatcmpl_uuid4_and_unique() -> None:
    first, second = new_completion_id(), new_completion_id()
    assert re.fullmatch(
        r"chatcmpl-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", first
    )
    assert first != second


def test_models_list_shape_with_one_owner_or_a_map() -> None:
    assert models_list(["a", "b"], 5, "qwenchat") == {
        "object": "list",
        "data": [
            {"id": "a", "object": "model", "created": 5, "owned_by": "qwenchat"},
            {"id": "b", "object": "model", "created": 5, "owned_by": "qwenchat"},
        ],
    }
    data = models_list(["a", "b"], 5, {"a": "alibaba"})["data"]
    assert [m["owned_by"] for m in data] == ["alibaba", "qwenchat"]


# --- non-stream -----------------------------------------------------------------------------


def test_plain_answer_is_the_exact_api_shape() -> None:
    result = assemble(
        [ContentDelta(0, "Hel"), ContentDelta(0, "lo"), Finish(0, FinishReason.STOP), USAGE]
    )
    assert result == {
        "id": ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {"role": "assistant", "content": "Hello"},
            }
        ],
        "usage": USAGE_DICT,
    }
    json.dumps(result)


def test_reasoning_content_only_when_there_was_reasoning() -> None:
    result = assemble(
        [
            ReasoningDelta(0, "Let me "),
            ReasoningDelta(0, "think."),
            ContentDelta(0, "42"),
            Finish(0, FinishReason.LENGTH),
            USAGE,
        ]
    )
    choice = result["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "42",
        "reasoning_content": "Let me think.",
    }
    assert choice["finish_reason"] == "length"


def test_tool_calls_have_empty_content_concatenated_arguments_and_sorted_index() -> None:
    result = assemble(
        [
            ToolCallDelta(0, 1, "", id="call_b", name="g"),
            ToolCallDelta(0, 0, "", id="call_a", name="f"),
            ToolCallDelta(0, 0, '{"city": '),
            ToolCallDelta(0, 1, "{}"),
            ToolCallDelta(0, 0, '"Paris"}'),
            Finish(0, FinishReason.TOOL_CALLS),
            USAGE,
        ]
    )
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "index": 0,
                "id": "call_a",
                "type": "function",
                "function": {"name": "f", "arguments": '{"city": "Paris"}'},
            },
            {
                "index": 1,
                "id": "call_b",
                "type": "function",
                "function": {"name": "g", "arguments": "{}"},
            },
        ],
    }


def test_logprobs_shape_collects_all_content_tokens() -> None:
    second = TokenLogprob(token="!", logprob=-0.1, bytes=(33,))
    result = assemble(
        [
            ContentDelta(0, "Hi", (TOKEN,)),
            ContentDelta(0, "!", (second,)),
            Finish(0, FinishReason.STOP),
            USAGE,
        ]
    )
    assert result["choices"][0]["logprobs"] == {
        "content": [
            TOKEN_DICT,
            {"token": "!", "logprob": -0.1, "bytes": [33], "top_logprobs": []},
        ]
    }


def test_n2_choices_are_sorted_by_index_whatever_the_event_order() -> None:
    result = assemble(
        [
            ContentDelta(1, "B"),
            ContentDelta(0, "A"),
            Finish(1, FinishReason.STOP),
            ContentDelta(0, "a"),
            Finish(0, FinishReason.LENGTH),
            USAGE,
        ],
        n=2,
    )
    assert [
        (c["index"], c["message"]["content"], c["finish_reason"]) for c in result["choices"]
    ] == [(0, "Aa", "length"), (1, "B", "stop")]


def test_missing_finish_and_usage_get_safe_defaults() -> None:
    result = assemble([ToolCallDelta(0, 0, "{}", id="call_x", name="f")], n=2)
    assert [c["finish_reason"] for c in result["choices"]] == ["tool_calls", "stop"]
    assert result["choices"][1]["message"] == {"role": "assistant", "content": ""}
    assert result["usage"]["total_tokens"] == 0
    assert result["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    assert result["usage"]["completion_tokens_details"] == {"reasoning_tokens": 0}


# --- stream ---------------------------------------------------------------------------------


def test_first_chunks_open_each_choice() -> None:
    assert encoder(n=2).first_chunks() == [
        chunk(0, {"role": "assistant", "content": ""}),
        chunk(1, {"role": "assistant", "content": ""}),
    ]


def test_reasoning_content_and_finish_chunks() -> None:
    enc = encoder()
    assert enc.encode(ReasoningDelta(0, "hmm")) == [chunk(0, {"reasoning_content": "hmm"})]
    assert enc.encode(ContentDelta(0, "Hi")) == [chunk(0, {"content": "Hi"})]
    assert enc.encode(Finish(0, FinishReason.STOP)) == [chunk(0, {"content": ""}, "stop")]


def test_content_chunk_carries_logprobs_when_present() -> None:
    assert encoder().encode(ContentDelta(0, "Hi", (TOKEN,))) == [
        chunk(0, {"content": "Hi"}, logprobs={"content": [TOKEN_DICT]})
    ]


def test_usage_chunk_only_when_asked_and_with_empty_choices() -> None:
    assert encoder(include_usage=False).encode(USAGE) == []
    assert encoder(include_usage=True).encode(USAGE) == [
        {
            "id": ID,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": MODEL,
            "system_fingerprint": None,
            "choices": [],
            "usage": USAGE_DICT,
        }
    ]


def test_tool_call_deltas_start_with_a_header_then_carry_fragments() -> None:
    enc = encoder()
    assert enc.encode(ToolCallDelta(0, 0, "", id="call_a", name="f")) == [
        chunk(
            0,
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "f", "arguments": ""},
                    }
                ]
            },
        ),
    ]
    assert enc.encode(ToolCallDelta(0, 0, '{"a":')) == [
        chunk(0, {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
    ]
    assert enc.encode(ToolCallDelta(0, 0, "")) == []


def test_tool_call_start_with_arguments_is_split_into_header_and_fragment() -> None:
    chunks = encoder().encode(ToolCallDelta(0, 1, "{}", id="call_b", name="g"))
    assert [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks] == [
        {
            "index": 1,
            "id": "call_b",
            "type": "function",
            "function": {"name": "g", "arguments": ""},
        },
        {"index": 1, "function": {"arguments": "{}"}},
    ]


def test_n2_chunks_carry_the_event_choice_index() -> None:
    enc = encoder(n=2)
    events = (ContentDelta(1, "b"), ContentDelta(0, "a"), Finish(1, FinishReason.STOP))
    indices = [c["choices"][0]["index"] for event in events for c in enc.encode(event)]
    assert indices == [1, 0, 1]


def _replay(chunks: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """What a streaming client rebuilds from the chunks, per choice."""
    choices: dict[int, dict[str, Any]] = {}
    for c in chunks:
        for choice in c["choices"]:
            state = choices.setdefault(choice["index"], {"content": "", "calls": {}})
            delta = choice["delta"]
            state["content"] += delta.get("content") or ""
            for call in delta.get("tool_calls", []):
                slot = state["calls"].setdefault(call["index"], {"name": "", "arguments": ""})
                slot["name"] += call.get("function", {}).get("name", "")
                slot["arguments"] += call["function"]["arguments"]
            state["finish"] = choice["finish_reason"] or state.get("finish")
    return choices


def test_stream_and_non_stream_agree_on_a_mixed_n2_run() -> None:
    events: list[ChatEvent] = [
        ReasoningDelta(0, "r"),
        ContentDelta(0, "An"),
        ContentDelta(1, "x"),
        ToolCallDelta(1, 0, '{"q":', id="call_q", name="lookup"),
        ContentDelta(0, "swer"),
        ToolCallDelta(1, 0, " 1}"),
        Finish(0, FinishReason.STOP),
        Finish(1, FinishReason.TOOL_CALLS),
        USAGE,
    ]
    enc = encoder(n=2, include_usage=True)
    chunks = enc.first_chunks() + [c for e in events for c in enc.encode(e)]
    assert {c["id"] for c in chunks} == {ID} and {c["created"] for c in chunks} == {CREATED}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert [c["usage"] for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == USAGE_DICT
    replay = _replay(chunks)
    full = assemble(events, n=2)["choices"]
    for index in (0, 1):
        message = full[index]["message"]
        assert replay[index]["content"] == message["content"]
        assert replay[index]["finish"] == full[index]["finish_reason"]
        assert [replay[index]["calls"][i] for i in sorted(replay[index]["calls"])] == [
            call["function"] for call in message.get("tool_calls", [])
        ]
    json.loads(json.dumps(chunks))
