"""Stream reassembly and reasoning normalisation, on hand-made chunks."""

from __future__ import annotations

from typing import Any

from qwenchat.client import StreamAssembler, normalise
from qwenchat.client._response import dump_completion


def _chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 5,
            "model": "qwen-plus", "choices": choices, "usage": usage}


def _delta(delta: dict[str, Any], index: int = 0, finish: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish}


def test_tool_calls_reassemble_by_index() -> None:
    stream = [
        _chunk([_delta({"role": "assistant", "content": ""})]),
        _chunk([_delta({"reasoning": "Two "})]),
        _chunk([_delta({"reasoning_content": "calls."})]),
        _chunk([_delta({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                        "function": {"name": "get_weather",
                                                     "arguments": ""}}]})]),
        _chunk([_delta({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                                        "function": {"name": "get_time", "arguments": ""}}]})]),
        _chunk([_delta({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]})]),
        _chunk([_delta({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]})]),
        _chunk([_delta({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]})]),
        _chunk([_delta({}, finish="tool_calls")]),
        _chunk([], usage={"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}),
    ]
    reasoning: list[str] = []
    assembler = StreamAssembler(on_reasoning=reasoning.append)
    for chunk in stream:
        assembler.add(chunk)
    response = normalise(dump_completion(assembler.result()))
    assert reasoning == ["Two ", "calls."]
    assert response["reasoning"] == "Two calls."
    choice = response["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == ""
    assert choice["message"]["reasoning_content"] == "Two calls."
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in choice["message"]["tool_calls"]] == [
        ("call_a", "get_weather", '{"city": "Oslo"}'), ("call_b", "get_time", "{}")]
    assert response["usage"]["total_tokens"] == 13
    assert (response["id"], response["object"], response["created"]) == (
        "chatcmpl-9", "chat.completion", 5)


def test_several_choices_and_only_choice_zero_reaches_the_callback() -> None:
    content: list[str] = []
    assembler = StreamAssembler(on_content=content.append)
    assembler.add(_chunk([_delta({"content": "A"}, 0), _delta({"content": "B"}, 1)]))
    assembler.add(_chunk([_delta({"content": "a"}, 1, "stop"), _delta({"content": "b"}, 0,
                                                                       "length")]))
    result = assembler.result()
    assert content == ["A", "b"]
    assert [(c["index"], c["message"]["content"], c["finish_reason"])
            for c in result["choices"]] == [(0, "Ab", "length"), (1, "Ba", "stop")]
    assert result["usage"] is None and assembler.has_output


def test_a_stream_without_a_finish_chunk_says_so() -> None:
    assembler = StreamAssembler()
    assembler.add(_chunk([_delta({"role": "assistant", "content": "cut"})]))
    assert assembler.result()["choices"][0]["finish_reason"] is None


def test_normalise_names_reasoning_once_on_top() -> None:
    response = normalise({"choices": [{"message": {"role": "assistant", "content": "x",
                                                   "reasoning": "why"}}]})
    assert response["reasoning"] == "why"
    assert response["choices"][0]["message"]["reasoning_content"] == "why"
    assert normalise({"choices": [{"message": {"content": "x"}}]})["reasoning"] is None
    assert normalise({"choices": []})["reasoning"] is None
