"""Qwen3 semantics end to end on the Qwen3 fixture model (real vocabulary and template).

The fixture's weights are random, so each test makes the real engine emit an exact Qwen3
output with the `grammar` extension (GBNF over the whole output) and checks what the server
makes of it: reasoning vs content, tool calls streamed and not, typed arguments. Under a
grammar the model may spell `<think>` as text pieces; a logit bias toward the special token
ids gives Qwen's canonical single-token spelling — both are tested.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest
from harness.qwenchat import ServerProcess, sdk

THINK, END_THINK, TOOL_CALL, END_TOOL_CALL = 151667, 151668, 151657, 151658
CANONICAL = {str(token): 30 for token in (THINK, END_THINK, TOOL_CALL, END_TOOL_CALL)}
NO_EOS = {str(t): -100 for t in (151643, 151645, 151662, 151663, 151664)}  # end-of-generation ids
USER = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"]}}}


@pytest.fixture(scope="module")
def qwen3(qwen3_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    home = tmp_path_factory.mktemp("qwen3")
    with ServerProcess(["--model", str(qwen3_model), "--threads", "1"], home,
                       home / "server.log") as proc, sdk(proc.url, api_key="k") as client:
        yield client


def gbnf_literal(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid GBNF literal for these texts


def forced(text: str) -> dict[str, Any]:
    return {"grammar": "root ::= " + gbnf_literal(text)}


def collect_stream(client: openai.OpenAI, **kwargs: Any) -> dict[str, Any]:
    reasoning = content = ""
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        reasoning += getattr(delta, "reasoning_content", None) or ""
        content += delta.content or ""
        for call in delta.tool_calls or []:
            entry = calls.setdefault(call.index, {"name": None, "arguments": ""})
            if call.id:
                entry["name"] = call.function.name
                assert call.function.arguments == ""
            entry["arguments"] += call.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    return {"reasoning": reasoning, "content": content, "finish": finish,
            "calls": [calls[i] for i in sorted(calls)]}


@pytest.mark.parametrize("bias", [{}, CANONICAL], ids=["text-pieces", "special-tokens"])
def test_reasoning_and_answer_are_separated(qwen3: openai.OpenAI, bias: dict[str, int]) -> None:
    output = "<think>\nThe user asks about France.\n</think>\n\nParis is the capital."
    kwargs: dict[str, Any] = {"model": "qwen3.6-plus", "messages": USER, "max_tokens": 100,
                              "logit_bias": bias, "extra_body": forced(output)}
    reply = qwen3.chat.completions.create(**kwargs)
    message = reply.choices[0].message
    assert message.content == "Paris is the capital."
    assert getattr(message, "reasoning_content", None) == "The user asks about France."
    assert reply.usage is not None and reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens > 0
    streamed = collect_stream(qwen3, **kwargs)
    assert streamed["reasoning"] == "The user asks about France."
    assert streamed["content"] == "Paris is the capital."


def test_thinking_off_answer_never_lands_in_reasoning(qwen3: openai.OpenAI) -> None:
    for output in ("Paris.", "<think>\n\n</think>\n\nParis."):
        reply = qwen3.chat.completions.create(model="qwen-plus", messages=USER, max_tokens=30,  # type: ignore[arg-type]
                                              extra_body=forced(output))
        message = reply.choices[0].message
        assert message.content == "Paris."
        assert getattr(message, "reasoning_content", None) in (None, "")


@pytest.mark.parametrize("bias", [{}, CANONICAL], ids=["text-pieces", "special-tokens"])
def test_tool_call_inside_think_is_returned_and_streams_the_same(
        qwen3: openai.OpenAI, bias: dict[str, int]) -> None:
    output = ('<think>\nI need the weather.\n<tool_call>\n{"name": "get_weather", '
              '"arguments": {"city": "Paris", "days": "3"}}\n</tool_call>')
    kwargs: dict[str, Any] = {"model": "qwen3.6-plus", "messages": USER, "tools": [WEATHER],
                              "max_tokens": 200, "logit_bias": bias,
                              "extra_body": forced(output)}
    reply = qwen3.chat.completions.create(**kwargs)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == ""
    assert getattr(choice.message, "reasoning_content", None) == "I need the weather."
    [call] = choice.message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 3}  # typed
    streamed = collect_stream(qwen3, **kwargs)
    assert streamed["calls"] == [{"name": "get_weather", "arguments": call.function.arguments}]
    assert streamed["finish"] == "tool_calls"


def test_parallel_calls_keep_their_indexes_and_coder_xml_is_typed(qwen3: openai.OpenAI) -> None:
    output = ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 1}}'
              '\n</tool_call>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nLyon\n'
              '</parameter>\n<parameter=days>\n2\n</parameter>\n</function>\n</tool_call>')
    kwargs: dict[str, Any] = {"model": "qwen-plus", "messages": USER, "tools": [WEATHER],
                              "max_tokens": 300, "extra_body": forced(output)}
    both = qwen3.chat.completions.create(parallel_tool_calls=True, **kwargs)
    calls = both.choices[0].message.tool_calls or []
    assert [json.loads(c.function.arguments) for c in calls] == [
        {"city": "Paris", "days": 1}, {"city": "Lyon", "days": 2}]
    streamed = collect_stream(qwen3, parallel_tool_calls=True, **kwargs)
    assert [c["arguments"] for c in streamed["calls"]] == [c.function.arguments for c in calls]
    first_only = qwen3.chat.completions.create(**kwargs)  # parallel_tool_calls defaults false
    assert len(first_only.choices[0].message.tool_calls or []) == 1


def test_malformed_tool_call_comes_back_as_content(qwen3: openai.OpenAI) -> None:
    output = '<tool_call>\n{"name": "get_weather", "arguments": {"city": \n</tool_call>'
    reply = qwen3.chat.completions.create(model="qwen-plus", messages=USER, tools=[WEATHER],  # type: ignore[arg-type, list-item]
                                          max_tokens=100, extra_body=forced(output))
    assert reply.choices[0].finish_reason == "stop"
    assert '"city"' in (reply.choices[0].message.content or "")


def test_thinking_budget_closes_the_reasoning_and_the_answer_keeps_max_tokens(
        qwen3: openai.OpenAI) -> None:
    # every prefix the reasoning part can reach may end with the injected "\n</think>\n\n"
    grammar = ('root ::= "<think>\\n" [ab]+ "\\n</think>\\n\\n" answer\n'
               'answer ::= [xy]+')
    reply = qwen3.chat.completions.create(
        model="qwen3.6-plus", messages=USER, max_tokens=6,  # type: ignore[arg-type]
        logit_bias={**CANONICAL, **NO_EOS},  # type: ignore[arg-type]
        extra_body={"grammar": grammar, "thinking_budget": 5, "temperature": 1.0, "seed": 1})
    usage = reply.usage
    assert usage is not None and usage.completion_tokens_details is not None
    reasoning = usage.completion_tokens_details.reasoning_tokens
    assert 5 <= reasoning <= 5 + 3  # the budget, then the injected "\n</think>\n\n"
    assert usage.completion_tokens - reasoning == 6  # the answer still got its max_tokens
    assert reply.choices[0].finish_reason == "length"
    message = reply.choices[0].message
    assert set(getattr(message, "reasoning_content", None) or "x") <= {"a", "b"}
    assert set(message.content or "") <= {"x", "y"}
    assert message.content and "think" not in message.content


def test_json_schema_constrains_the_answer_after_the_reasoning(qwen3: openai.OpenAI) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}},
              "required": ["ok"], "additionalProperties": False}
    reply = qwen3.chat.completions.create(
        model="qwen3.6-plus", max_tokens=20, logit_bias={str(THINK): 100},  # type: ignore[dict-item]
        messages=[{"role": "user", "content": "Answer in JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema}},
        extra_body={"thinking_budget": 4, "seed": 3})
    message = reply.choices[0].message
    assert getattr(message, "reasoning_content", None)  # the model reasoned, unconstrained
    jsonschema.validate(json.loads(message.content or ""), schema)


def test_preserve_thinking_puts_history_reasoning_back(qwen3: openai.OpenAI) -> None:
    # Qwen3's template keeps reasoning for the turns after the last user message (a tool
    # round in progress); preserve_thinking decides whether it is sent at all
    history: list[Any] = [
        *USER, {"role": "assistant", "content": "",
                "reasoning_content": "I should look up the weather first. " * 8,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {
                    "name": "get_weather", "arguments": '{"city": "Paris", "days": 1}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny."}]
    prompts = []
    for preserve in (False, True):
        reply = qwen3.chat.completions.create(model="qwen-plus", messages=history, max_tokens=1,
                                              tools=[WEATHER],  # type: ignore[list-item]
                                              extra_body={"preserve_thinking": preserve})
        assert reply.usage is not None
        prompts.append(reply.usage.prompt_tokens)
    assert prompts[1] > prompts[0] + 40
