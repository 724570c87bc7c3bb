"""Tests of protocol.parse_chat_request: body bytes -> core.ChatRequest and its 400s."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from qwenchat.core import (
    ChatRequest,
    Message,
    ResponseFormat,
    Role,
    SamplingParams,
    ToolCall,
    ToolChoice,
    ToolSpec,
    TranslationOptions,
)
from qwenchat.errors import InvalidBody, InvalidParameter
from qwenchat.protocol import parse_chat_request

USER = {"role": "user", "content": "hi"}
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
ASSISTANT_CALLS = {"role": "assistant", "content": None, "tool_calls": [CALL]}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


def body(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"model": "qwen-plus", "messages": [USER]}
    base.update(fields)
    return base


def without(key: str) -> dict[str, Any]:
    data = body()
    del data[key]
    return data


def parse(data: dict[str, Any]) -> ChatRequest:
    return parse_chat_request(json.dumps(data).encode())


# --- InvalidBody -------------------------------------------------------------------------

BODY_MESSAGE = "Required body invalid, please check the request body format."
STOP_SHAPE = (
    "Invalid value for 'stop': use a string, a list of strings or a list of token-id lists "
    "(lists of non-negative integers), never a mix."
)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b'{"model": "qwen-plus",',
        b"[1, 2]",
        b'"a string"',
        b"null",
        b"\xff\xfe\x00",
        b'{"model": "q", "messages": [], "temperature": NaN}',
        b'{"model": "q", "messages": [], "temperature": 1e400}',
        b"[" * 100_000,
    ],
    ids=["empty", "text", "truncated", "array", "string", "null", "bad-utf8", "nan", "inf", "deep"],
)
def test_body_that_is_not_a_json_object_is_invalid_body(raw: bytes) -> None:
    with pytest.raises(InvalidBody) as info:
        parse_chat_request(raw)
    err = info.value
    assert (err.status, err.code, err.type) == (
        400,
        "invalid_request_error",
        "invalid_request_error",
    )
    # DashScope's message; a body nested past the bound also says why
    deep = BODY_MESSAGE.rstrip(".") + ": JSON may nest at most 64 levels."
    assert err.message in (BODY_MESSAGE, deep)


# --- InvalidParameter: one case per rule ---------------------------------------------------

# One row per rule: (id, body, param, message). Kept as a table on purpose.
# fmt: off
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("model-missing", without("model"), "model", "Missing required parameter: 'model'."),
    ("model-not-string", body(model=5), "model",
     "Invalid type for 'model': expected a string, but got a number instead."),
    ("messages-missing", without("messages"), "messages",
     "Missing required parameter: 'messages'."),
    ("messages-not-list", body(messages="hi"), "messages",
     "Invalid type for 'messages': expected an array, but got a string instead."),
    ("messages-empty", body(messages=[]), "messages",
     "Invalid value for 'messages': it must be a non-empty list."),
    ("message-not-object", body(messages=["hi"]), "messages[0]",
     "Invalid type for 'messages[0]': expected an object, but got a string instead."),
    ("role-missing", body(messages=[{"content": "x"}]), "messages[0].role",
     "Missing required parameter: 'messages[0].role'."),
    ("role-unknown", body(messages=[{"role": "developer", "content": "x"}]),
     "messages[0].role",
     "Invalid value for 'messages[0].role': \"developer\" is not one of 'system', 'user', "
     "'assistant', 'tool'."),
    ("content-number", body(messages=[{"role": "user", "content": 5}]),
     "messages[0].content",
     "Invalid type for 'messages[0].content': expected a string or a list of text parts."),
    ("content-null-user", body(messages=[{"role": "user", "content": None}]),
     "messages[0].content", "Missing required parameter: 'messages[0].content'."),
    ("content-image-part",
     body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
     "messages[0].content[0].type",
     "Invalid value for 'messages[0].content[0].type': only \"text\" content parts are "
     "supported by these text models, got \"image_url\"."),
    ("content-part-not-object", body(messages=[{"role": "user", "content": ["hi"]}]),
     "messages[0].content[0]", "Invalid type for 'messages[0].content[0]': expected an object."),
    ("content-part-text-not-string",
     body(messages=[{"role": "user", "content": [{"type": "text", "text": 3}]}]),
     "messages[0].content[0].text",
     "Invalid type for 'messages[0].content[0].text': expected a string."),
    ("system-not-first",
     body(messages=[USER, {"role": "system", "content": "s"}, USER]), "messages[1].role",
     "The system message must be the first message."),
    ("last-is-assistant", body(messages=[USER, {"role": "assistant", "content": "a"}]),
     "messages[1].role",
     "The last message must be a user or tool message, or an assistant message with "
     "\"partial\": true."),
    ("no-user-message",
     body(messages=[{"role": "assistant", "content": "a", "partial": True}]), "messages",
     "The input messages do not contain elements with the role of user"),
    ("tool-without-calls",
     body(messages=[USER, {"role": "tool", "content": "r", "tool_call_id": "call_1"}]),
     "messages[1].role",
     'messages with role "tool" must be a response to a preceeding message with '
     '"tool_calls".'),
    ("tool-call-id-unknown",
     body(messages=[USER, ASSISTANT_CALLS,
                    {"role": "tool", "content": "r", "tool_call_id": "call_9"}]),
     "messages[2].tool_call_id",
     "Invalid value for 'messages[2].tool_call_id': \"call_9\" does not match an unanswered "
     "tool call of the preceding assistant message."),
    ("tool-call-unanswered", body(messages=[USER, ASSISTANT_CALLS, USER]), "messages",
     'An assistant message with "tool_calls" must be followed by tool messages responding '
     'to each "tool_call_id". The following tool_call_ids did not have response messages: '
     "call_1"),
    ("arguments-not-json",
     body(messages=[USER, {"role": "assistant", "tool_calls": [
         {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]},
         {"role": "tool", "content": "r", "tool_call_id": "c"}]),
     "messages[1].tool_calls[0].function.arguments",
     "The 'messages[1].tool_calls[0].function.arguments' parameter must be in JSON format."),
    ("arguments-not-string",
     body(messages=[USER, {"role": "assistant", "tool_calls": [
         {"id": "c", "function": {"name": "f", "arguments": {"a": 1}}}]}]),
     "messages[1].tool_calls[0].function.arguments",
     "Invalid type for 'messages[1].tool_calls[0].function.arguments': expected a string, "
     "but got an object instead."),
    ("tool-call-type",
     body(messages=[USER, {"role": "assistant", "tool_calls": [
         {"id": "c", "type": "code", "function": {"name": "f", "arguments": "{}"}}]}]),
     "messages[1].tool_calls[0].type",
     "Invalid value for 'messages[1].tool_calls[0].type': only 'function' is supported."),
    ("temperature-2", body(temperature=2.0), "temperature",
     "Temperature should be in [0.0, 2.0)"),
    ("temperature-negative", body(temperature=-0.1), "temperature",
     "Temperature should be in [0.0, 2.0)"),
    ("temperature-string", body(temperature="hot"), "temperature",
     "Invalid type for 'temperature': expected a number, but got a string instead."),
    ("temperature-bool", body(temperature=True), "temperature",
     "Invalid type for 'temperature': expected a number, but got a boolean instead."),
    ("top_p-0", body(top_p=0), "top_p", "Range of top_p should be (0.0, 1.0]"),
    ("top_p-above-1", body(top_p=1.01), "top_p", "Range of top_p should be (0.0, 1.0]"),
    ("top_k-negative", body(top_k=-1), "top_k",
     "top_k should be a non-negative integer (null, 0 or a value above 100 turns top-k off)"),
    ("top_k-float", body(top_k=1.5), "top_k",
     "Invalid type for 'top_k': expected an integer, but got a number instead."),
    ("presence_penalty", body(presence_penalty=2.5), "presence_penalty",
     "Range of presence_penalty should be [-2.0, 2.0]"),
    ("frequency_penalty", body(frequency_penalty=-3), "frequency_penalty",
     "Range of frequency_penalty should be [-2.0, 2.0]"),
    ("repetition_penalty", body(repetition_penalty=0), "repetition_penalty",
     "repetition_penalty should be greater than 0"),
    ("max_tokens-0", body(max_tokens=0), "max_tokens",
     "max_tokens should be greater than or equal to 1"),
    ("n-0", body(n=0), "n", "Range of n should be [1, 4]"),
    ("n-5", body(n=5), "n", "Range of n should be [1, 4]"),
    ("seed-negative", body(seed=-1), "seed", "Range of seed should be [0, 2147483647]"),
    ("seed-2^31", body(seed=2**31), "seed", "Range of seed should be [0, 2147483647]"),
    ("top_logprobs-6", body(top_logprobs=6), "top_logprobs",
     "Range of top_logprobs should be [0, 5]"),
    ("logprobs-string", body(logprobs="yes"), "logprobs",
     "Invalid type for 'logprobs': expected a boolean, but got a string instead."),
    ("stop-mixed", body(stop=["a", [1]]), "stop", STOP_SHAPE),
    ("stop-number", body(stop=5), "stop", STOP_SHAPE),
    ("stop-flat-ids", body(stop=[1, 2]), "stop", STOP_SHAPE),
    ("stop-empty-id-list", body(stop=[[]]), "stop", STOP_SHAPE),
    ("stream-string", body(stream="yes"), "stream",
     "Invalid type for 'stream': expected a boolean, but got a string instead."),
    ("stream_options-without-stream", body(stream_options={"include_usage": True}),
     "stream_options",
     "The 'stream_options' parameter is only allowed when 'stream' is enabled."),
    ("tools-type", body(tools=[{"type": "retrieval", "function": {"name": "f"}}]),
     "tools[0].type",
     "Invalid value for 'tools[0].type': only 'function' tools are supported, got "
     "\"retrieval\"."),
    ("tools-named-search", body(tools=[{"type": "function", "function": {"name": "search"}}]),
     "tools[0].function.name", "The tool name cannot be 'search'."),
    ("tools-empty-name", body(tools=[{"type": "function", "function": {"name": ""}}]),
     "tools[0].function.name",
     "Invalid value for 'tools[0].function.name': it must not be empty."),
    ("tools-not-list", body(tools={"type": "function"}), "tools",
     "Invalid type for 'tools': expected an array, but got an object instead."),
    ("tools-with-n", body(tools=[TOOL], n=2), "n", "n must be 1 when tools are given."),
    ("tool_choice-unknown", body(tools=[TOOL], tool_choice="sometimes"), "tool_choice",
     "Invalid value for 'tool_choice': use \"auto\", \"none\", \"required\" or "
     '{"type": "function", "function": {"name": "..."}}.'),
    ("tool_choice-named-missing",
     body(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "g"}}),
     "tool_choice", "Invalid value for 'tool_choice': no tool named \"g\" in 'tools'."),
    ("tool_choice-required-no-tools", body(tool_choice="required"), "tool_choice",
     "Invalid value for 'tool_choice': \"required\" needs 'tools'."),
    ("response_format-type", body(response_format={"type": "xml"}), "response_format.type",
     "Invalid value for 'response_format.type': use \"text\", \"json_object\" or "
     "\"json_schema\", got \"xml\"."),
    ("json_object-without-json-word", body(response_format={"type": "json_object"}),
     "response_format",
     "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
     "'json_object'."),
    ("json_schema-missing", body(response_format={"type": "json_schema"}),
     "response_format.json_schema",
     "Missing required parameter: 'response_format.json_schema'."),
    ("enable_thinking-string", body(enable_thinking="true"), "enable_thinking",
     "Invalid type for 'enable_thinking': expected a boolean, but got a string instead."),
    ("thinking_budget-0", body(thinking_budget=0), "thinking_budget",
     "The thinking_budget parameter must be a positive integer"),
    ("preserve_thinking-int", body(preserve_thinking=1), "preserve_thinking",
     "Invalid type for 'preserve_thinking': expected a boolean, but got a number instead."),
    ("translation-no-target", body(translation_options={"source_lang": "auto"}),
     "translation_options.target_lang",
     "Missing required parameter: 'translation_options.target_lang'."),
    ("translation-terms-shape",
     body(translation_options={"target_lang": "English", "terms": [{"source": "a"}]}),
     "translation_options.terms[0].target",
     "Missing required parameter: 'translation_options.terms[0].target'."),
    ("logit_bias-key", body(logit_bias={"abc": 1}), "logit_bias",
     "Invalid key in 'logit_bias': 'abc' is not a token id"),
    ("logit_bias-value", body(logit_bias={"12": 200}), "logit_bias",
     "Range of logit_bias values should be [-100, 100]"),
    ("grammar-with-json",
     body(messages=[{"role": "user", "content": "json please"}], grammar="root ::= \"a\"",
          response_format={"type": "json_object"}),
     "grammar",
     "'grammar' cannot be combined with a 'response_format' of type 'json_object'; send one "
     "constraint."),
]
# fmt: on


@pytest.mark.parametrize(
    ("data", "param", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_violation_is_invalid_parameter(
    data: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse(data)
    err = info.value
    assert (err.status, err.code, err.type) == (
        400,
        "invalid_parameter_error",
        "invalid_request_error",
    )
    assert err.message == message
    assert err.param == param


def test_type_errors_are_translated_from_pydantic() -> None:
    with pytest.raises(InvalidParameter) as info:
        parse(body(temperature="hot"))
    assert "pydantic" not in info.value.message.lower()
    assert type(info.value.__cause__).__name__ == "ValidationError"


# --- accepted requests --------------------------------------------------------------------


def test_minimal_request_gets_defaults() -> None:
    assert parse(body()) == ChatRequest(
        model="qwen-plus", messages=(Message(role=Role.USER, content="hi"),)
    )


def test_every_field_is_carried_into_the_core_request() -> None:
    request = parse(
        body(
            messages=[{"role": "system", "content": "Answer in JSON."}, USER],
            stream=True,
            stream_options={"include_usage": True},
            temperature=1,
            top_p=0.5,
            top_k=20,
            presence_penalty=1.5,
            frequency_penalty=-1,
            repetition_penalty=1.1,
            max_tokens=100,
            n=2,
            seed=7,
            stop="END",
            logprobs=True,
            top_logprobs=3,
            response_format={"type": "json_object"},
            enable_thinking=False,
            thinking_budget=50,
            preserve_thinking=True,
            logit_bias={"20": -100, "3": 5},
            user="u1",
        )
    )
    assert request.sampling == SamplingParams(
        temperature=1.0,
        top_p=0.5,
        top_k=20,
        presence_penalty=1.5,
        frequency_penalty=-1.0,
        repetition_penalty=1.1,
        seed=7,
        max_tokens=100,
        stop=("END",),
        logprobs=True,
        top_logprobs=3,
        logit_bias=((3, 5.0), (20, -100.0)),
    )
    assert (request.n, request.stream, request.include_usage) == (2, True, True)
    assert request.response_format == ResponseFormat(type="json_object")
    assert (request.enable_thinking, request.thinking_budget) == (False, 50)
    assert request.preserve_thinking is True
    assert request.messages[0] == Message(role=Role.SYSTEM, content="Answer in JSON.")


@pytest.mark.parametrize(
    ("top_k", "expected"), [(None, None), (0, None), (1, 1), (100, 100), (101, None)]
)
def test_top_k_null_zero_or_above_100_is_off(top_k: int | None, expected: int | None) -> None:
    assert parse(body(top_k=top_k)).sampling.top_k == expected


@pytest.mark.parametrize(
    ("stop", "strings", "ids"),
    [
        ("x", ("x",), ()),
        (["a", "b"], ("a", "b"), ()),
        ([[1, 2], [3]], (), ((1, 2), (3,))),
        ([], (), ()),
        (None, (), ()),
    ],
)
def test_stop_forms(stop: Any, strings: tuple[str, ...], ids: tuple[tuple[int, ...], ...]) -> None:
    sampling = parse(body(stop=stop)).sampling
    assert (sampling.stop, sampling.stop_token_ids) == (strings, ids)


def test_top_logprobs_without_logprobs_has_no_effect() -> None:
    assert parse(body(top_logprobs=3)).sampling.top_logprobs == 0
    assert parse(body(top_logprobs=3, logprobs=True)).sampling.top_logprobs == 3


def test_text_parts_are_joined_and_null_assistant_content_is_empty() -> None:
    request = parse(
        body(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                {"role": "assistant", "content": None},
                USER,
            ]
        )
    )
    assert [m.content for m in request.messages] == ["a\nb", "", "hi"]


def test_tool_history_is_converted_and_missing_tool_call_ids_filled_in_order() -> None:
    second = {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "[1]"}}
    request = parse(
        body(
            tools=[TOOL],
            messages=[
                USER,
                {
                    "role": "assistant",
                    "content": "",
                    "reasoning_content": "think",
                    "tool_calls": [CALL, second],
                },
                {"role": "tool", "content": "r1"},
                {"role": "tool", "content": "r2"},
            ],
        )
    )
    assistant, first_answer, second_answer = request.messages[1:]
    assert assistant.tool_calls == (ToolCall("call_1", "f", "{}"), ToolCall("call_2", "g", "[1]"))
    assert assistant.reasoning_content == "think"
    assert (first_answer.tool_call_id, second_answer.tool_call_id) == ("call_1", "call_2")
    assert request.tools == (ToolSpec(name="f", parameters={"type": "object"}),)


def test_tool_answers_may_come_in_any_order() -> None:
    second = {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}
    request = parse(
        body(
            messages=[
                USER,
                {"role": "assistant", "tool_calls": [CALL, second]},
                {"role": "tool", "content": "r2", "tool_call_id": "call_2"},
                {"role": "tool", "content": "r1", "tool_call_id": "call_1"},
                {"role": "assistant", "content": "done"},
                USER,
            ]
        )
    )
    assert [m.tool_call_id for m in request.messages[2:4]] == ["call_2", "call_1"]


def test_final_partial_assistant_message_is_partial_mode_and_earlier_partial_ignored() -> None:
    request = parse(
        body(
            messages=[
                USER,
                {"role": "assistant", "content": "old", "partial": True},
                USER,
                {"role": "assistant", "content": "def f(", "partial": True},
            ]
        )
    )
    assert request.is_partial
    assert not request.messages[1].partial


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        (None, ToolChoice()),
        ("auto", ToolChoice()),
        ("none", ToolChoice(mode="none")),
        ("required", ToolChoice(mode="required")),
        ({"type": "function", "function": {"name": "f"}}, ToolChoice(mode="function", name="f")),
    ],
)
def test_tool_choice_forms(tool_choice: Any, expected: ToolChoice) -> None:
    assert parse(body(tools=[TOOL], tool_choice=tool_choice)).tool_choice == expected


def test_tool_choice_auto_or_none_without_tools_is_accepted() -> None:
    assert parse(body(tool_choice="none")).tool_choice == ToolChoice(mode="none")


def test_parallel_tool_calls_defaults_to_false() -> None:
    assert parse(body(tools=[TOOL])).parallel_tool_calls is False
    assert parse(body(tools=[TOOL], parallel_tool_calls=True)).parallel_tool_calls is True


def test_json_word_check_is_case_insensitive() -> None:
    request = parse(
        body(
            messages=[{"role": "user", "content": "Reply as JSON"}],
            response_format={"type": "json_object"},
        )
    )
    assert request.response_format.type == "json_object"


@pytest.mark.parametrize(
    "response_format",
    [
        {
            "type": "json_schema",
            "json_schema": {"name": "p", "schema": {"type": "object"}, "strict": True},
        },
        {
            "type": "json_schema",
            "json_schema": {"name": "p", "schema": {"type": "object"}},
            "strict": True,
        },
    ],
    ids=["strict-inside", "strict-beside"],
)
def test_json_schema_accepts_strict_inside_or_beside(response_format: dict[str, Any]) -> None:
    assert parse(body(response_format=response_format)).response_format == ResponseFormat(
        type="json_schema", name="p", schema={"type": "object"}, strict=True
    )


def test_translation_options_and_grammar_are_carried() -> None:
    request = parse(
        body(
            translation_options={
                "target_lang": "English",
                "terms": [{"source": "a", "target": "b"}],
                "tm_list": [{"source": "c", "target": "d"}],
                "domains": "IT",
            },
            grammar='root ::= "yes" | "no"',
        )
    )
    assert request.translation_options == TranslationOptions(
        source_lang="auto",
        target_lang="English",
        terms=(("a", "b"),),
        tm_list=(("c", "d"),),
        domains="IT",
    )
    assert request.grammar == 'root ::= "yes" | "no"'


def test_nulls_mean_not_given() -> None:
    request = parse(
        body(
            stream=None,
            temperature=None,
            n=None,
            tools=None,
            stop=None,
            response_format=None,
            enable_thinking=None,
        )
    )
    assert request == parse(body())


def test_unknown_fields_are_accepted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="qwenchat.protocol")
    request = parse(
        body(
            enable_search=True,
            store=False,
            prediction={"type": "content", "content": "x"},
            service_tier="auto",
            modalities=["text"],
            messages=[{"role": "user", "content": "hi", "cache_control": {}}],
        )
    )
    assert request.messages == (Message(role=Role.USER, content="hi"),)
    assert request.enable_search is True  # read: the backend refuses it where none happens
    assert ("modalities, prediction, service_tier, store, messages[0].cache_control"
            in caplog.text)


@pytest.mark.parametrize(("field", "value"), [
    ("functions", [{"name": "f", "parameters": {}}]),
    ("function_call", {"name": "f"}),
    ("reasoning_effort", "high"),
    ("verbosity", "low"),
    ("modalities", ["text", "audio"]),
    ("audio", {"voice": "alloy", "format": "wav"}),
    ("web_search_options", {}),
    ("enable_code_interpreter", True),
])
def test_fields_that_would_change_the_answer_are_refused(field: str, value: Any) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse(body(**{field: value}))
    assert info.value.param == field
    assert info.value.message.startswith(f"The parameter {field} is not supported: ")


def test_refusable_fields_asking_for_nothing_pass() -> None:
    parse(body(functions=[], function_call="auto", reasoning_effort=None, modalities=["text"],
               enable_code_interpreter=False))
