"""Function calling and structured output on the starter model, through the openai SDK.

The starter model knows nothing of Qwen's tool format or JSON: what these tests show is that
the constraints, the prompt fallback and the parser make the contract hold anyway.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"},
                           "days": {"type": "integer", "minimum": 1, "maximum": 7},
                           "metric": {"type": "boolean"}},
            "required": ["city", "days", "metric"],
        },
    },
}
TIME = {"type": "function", "function": {
    "name": "get_time", "parameters": {"type": "object", "properties": {
        "zone": {"type": "string", "enum": ["UTC", "CET"]}}, "required": ["zone"]}}}
ASK = [{"role": "user", "content": "What's the weather in Paris for the next 3 days?"}]


def _calls_from_stream(chunks: list[Any]) -> list[dict[str, Any]]:
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta_call in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            call = calls.setdefault(delta_call.index, {"id": None, "name": None, "arguments": ""})
            if delta_call.id:
                assert call["id"] is None, "only the first delta carries the id"
                call["id"] = delta_call.id
                call["name"] = delta_call.function.name
                assert delta_call.type == "function"
                assert delta_call.function.arguments == ""
            call["arguments"] += delta_call.function.arguments or ""
    return [calls[index] for index in sorted(calls)]


@pytest.mark.parametrize("tool_choice", [
    "required", {"type": "function", "function": {"name": "get_weather"}}])
def test_forced_tool_call_is_schema_valid_and_streams_the_same(
        client: openai.OpenAI, tool_choice: Any) -> None:
    kwargs: dict[str, Any] = {"model": "qwen-plus", "messages": ASK, "tools": [WEATHER, TIME],
                              "tool_choice": tool_choice, "temperature": 0.7, "seed": 4,
                              "max_tokens": 200}
    whole = client.chat.completions.create(**kwargs)
    choice = whole.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == ""
    calls = choice.message.tool_calls or []
    assert len(calls) == 1  # parallel_tool_calls defaults to false
    call = calls[0]
    assert call.id.startswith("call_") and call.type == "function"
    if isinstance(tool_choice, dict):
        assert call.function.name == "get_weather"
    tool = WEATHER if call.function.name == "get_weather" else TIME
    jsonschema.validate(json.loads(call.function.arguments), tool["function"]["parameters"])

    chunks = list(client.chat.completions.create(stream=True, **kwargs))
    streamed = _calls_from_stream(chunks)
    assert [(c["name"], json.loads(c["arguments"])) for c in streamed] == [
        (call.function.name, json.loads(call.function.arguments))]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert not "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_tool_results_continue_the_conversation(client: openai.OpenAI) -> None:
    history: list[Any] = [
        *ASK,
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather",
                          "arguments": '{"city": "Paris", "days": 3, "metric": true}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 24 C."},
    ]
    reply = client.chat.completions.create(model="qwen-plus", messages=history,
                                           tools=[WEATHER], temperature=0, max_tokens=40)
    assert reply.choices[0].finish_reason in ("stop", "length")


def test_tool_choice_none_never_calls(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="qwen-plus", messages=ASK, tools=[WEATHER],
                                           tool_choice="none", temperature=0, max_tokens=30)
    assert not reply.choices[0].message.tool_calls
    assert reply.choices[0].finish_reason != "tool_calls"


SCHEMA = {"type": "object",
          "properties": {"city": {"type": "string"}, "population": {"type": "integer"},
                         "capital": {"type": "boolean"},
                         "landmarks": {"type": "array", "items": {"type": "string"},
                                       "maxItems": 3}},
          "required": ["city", "population", "capital", "landmarks"],
          "additionalProperties": False}


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_answers_validate(client: openai.OpenAI, stream: bool) -> None:
    kwargs: dict[str, Any] = {
        "model": "qwen-plus", "temperature": 0.8, "seed": 2, "max_tokens": 300,
        "messages": [{"role": "user", "content": "Describe Paris."}],
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "city", "schema": SCHEMA, "strict": True}},
    }
    if stream:
        chunks = client.chat.completions.create(stream=True, **kwargs)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = client.chat.completions.create(**kwargs).choices[0].message.content or ""
    jsonschema.validate(json.loads(text), SCHEMA)


def test_json_object_answers_parse(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="qwen-plus", temperature=0, max_tokens=200,
        messages=[{"role": "user", "content": "Reply in JSON: what is the capital of France?"}],
        response_format={"type": "json_object"})
    assert reply.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


def test_tools_reach_a_model_whose_template_has_none(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model="qwen-plus", messages=ASK, max_tokens=1)
    tooled = client.chat.completions.create(model="qwen-plus", messages=ASK, max_tokens=1,
                                            tools=[WEATHER, TIME])
    assert plain.usage is not None and tooled.usage is not None
    assert tooled.usage.prompt_tokens > plain.usage.prompt_tokens + 100  # Qwen3's tools prompt


def test_qwen_mt_request_is_translated(client: openai.OpenAI) -> None:
    options = {"source_lang": "auto", "target_lang": "en",
               "terms": [{"source": "monde", "target": "world"}]}
    reply = client.chat.completions.create(
        model="qwen-mt-plus", temperature=0, max_tokens=30,
        messages=[{"role": "user", "content": "Bonjour le monde"}],
        extra_body={"translation_options": options})
    assert reply.choices[0].message.content
    assert reply.usage is not None and reply.usage.prompt_tokens > 40  # the instruction
    missing = client.chat.completions.with_raw_response.create  # the options are required
    with pytest.raises(openai.BadRequestError, match="translation_options"):
        missing(model="qwen-mt-plus", messages=[{"role": "user", "content": "Bonjour"}])
