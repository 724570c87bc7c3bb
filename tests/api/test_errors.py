"""Every validation rule through real HTTP: status, DashScope error code and message.

The unit tests in tests/protocol cover each rule's wording in depth; these check that the
server answers each one with the right envelope, and that no input, however malformed,
produces a 500 or takes the server down.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from harness.qwenchat import ServerProcess

USER = {"role": "user", "content": "Hi"}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
CALL = {"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}

PARAM = "invalid_parameter_error"

# (body, status, code, a part of the message)
CASES: list[tuple[str, dict[str, Any], int, str, str]] = [
    ("missing model", {"messages": [USER]}, 400, PARAM, "model"),
    ("model not a string", {"model": 5, "messages": [USER]}, 400, PARAM, "model"),
    ("unknown model", {"model": "gpt-4", "messages": [USER]}, 404, "model_not_found",
     "The model `gpt-4` does not exist or you do not have access to it."),
    ("missing messages", {"model": "qwen-plus"}, 400, PARAM, "messages"),
    ("messages not a list", {"model": "qwen-plus", "messages": "Hi"}, 400, PARAM, "messages"),
    ("empty messages", {"model": "qwen-plus", "messages": []}, 400, PARAM, "messages"),
    ("message not an object", {"model": "qwen-plus", "messages": ["Hi"]}, 400, PARAM,
     "messages"),
    ("unknown role", {"model": "qwen-plus", "messages": [{"role": "wizard", "content": "x"}]},
     400, PARAM, "role"),
    ("content a number", {"model": "qwen-plus", "messages": [{"role": "user", "content": 3}]},
     400, PARAM, "content"),
    ("image part on a text model",
     {"model": "qwen-plus", "messages": [{"role": "user", "content": [
         {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]}, 400, PARAM,
     "content"),
    ("system not first", {"model": "qwen-plus", "messages": [
        USER, {"role": "system", "content": "Be brief."}, USER]}, 400, PARAM, "system"),
    ("last message from the assistant", {"model": "qwen-plus", "messages": [
        USER, {"role": "assistant", "content": "Hello"}]}, 400, PARAM, "user"),
    ("tool message without a tool call", {"model": "qwen-plus", "messages": [
        USER, {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}]}, 400, PARAM,
     'messages with role "tool" must be a response to a preceeding message with "tool_calls"'),
    ("tool call arguments not JSON", {"model": "qwen-plus", "messages": [
        USER, {"role": "assistant", "content": None, "tool_calls": [
            {**CALL, "function": {"name": "get_weather", "arguments": "{city: Paris"}}]},
        {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}]}, 400, PARAM,
     "arguments"),
    ("temperature too high", {"model": "qwen-plus", "messages": [USER], "temperature": 2},
     400, PARAM, "Temperature should be in [0.0, 2.0)"),
    ("temperature a string", {"model": "qwen-plus", "messages": [USER], "temperature": "hot"},
     400, PARAM, "temperature"),
    ("top_p zero", {"model": "qwen-plus", "messages": [USER], "top_p": 0}, 400, PARAM,
     "Range of top_p should be (0.0, 1.0]"),
    ("top_k negative", {"model": "qwen-plus", "messages": [USER], "top_k": -1}, 400, PARAM,
     "top_k"),
    ("presence_penalty too low", {"model": "qwen-plus", "messages": [USER],
                                  "presence_penalty": -2.5}, 400, PARAM, "presence_penalty"),
    ("repetition_penalty zero", {"model": "qwen-plus", "messages": [USER],
                                 "repetition_penalty": 0}, 400, PARAM, "repetition_penalty"),
    ("max_tokens zero", {"model": "qwen-plus", "messages": [USER], "max_tokens": 0}, 400, PARAM,
     "max_tokens"),
    ("max_tokens above the model's cap", {"model": "qwen-plus", "messages": [USER],
                                          "max_tokens": 10**7}, 400, PARAM,
     "Range of max_tokens should be [1, 32768]"),
    ("n too large", {"model": "qwen-plus", "messages": [USER], "n": 5}, 400, PARAM,
     "Range of n should be [1, 4]"),
    ("n > 1 with tools", {"model": "qwen-plus", "messages": [USER], "n": 2, "tools": [TOOL]},
     400, PARAM, "n must be 1"),
    ("n > 1 in thinking mode", {"model": "qwen3.6-plus", "messages": [USER], "n": 2}, 400,
     PARAM, "n must be 1"),
    ("seed out of range", {"model": "qwen-plus", "messages": [USER], "seed": 2**31}, 400, PARAM,
     "seed"),
    ("stop mixing strings and token ids", {"model": "qwen-plus", "messages": [USER],
                                           "stop": ["a", [1, 2]]}, 400, PARAM, "stop"),
    ("top_logprobs too large", {"model": "qwen-plus", "messages": [USER], "logprobs": True,
                                "top_logprobs": 6}, 400, PARAM,
     "Range of top_logprobs should be [0, 5]"),
    ("stream_options without stream", {"model": "qwen-plus", "messages": [USER],
                                       "stream_options": {"include_usage": True}}, 400, PARAM,
     "stream_options"),
    ("a tool named search", {"model": "qwen-plus", "messages": [USER], "tools": [
        {"type": "function", "function": {"name": "search"}}]}, 400, PARAM, "search"),
    ("forced tool choice in thinking mode", {"model": "qwen3.6-plus", "messages": [USER],
                                             "tools": [TOOL], "tool_choice": "required"},
     400, PARAM, "thinking mode"),
    ("json_object without the word json", {"model": "qwen-plus", "messages": [USER],
                                           "response_format": {"type": "json_object"}},
     400, PARAM, "json"),
    ("enable_thinking on a model that cannot think",
     {"model": "qwen3-coder-plus", "messages": [USER], "enable_thinking": True}, 400, PARAM,
     "The model qwen3-coder-plus does not support enable_thinking."),
    ("enable_thinking false on an always-thinking model",
     {"model": "qwq-plus", "messages": [USER], "enable_thinking": False}, 400, PARAM,
     "The value of the enable_thinking parameter is restricted to True."),
    ("thinking_budget not positive", {"model": "qwen3.6-plus", "messages": [USER],
                                      "thinking_budget": 0}, 400, PARAM, "thinking_budget"),
    ("partial mode while thinking", {"model": "qwen3.6-plus", "messages": [
        USER, {"role": "assistant", "content": "Once", "partial": True}]}, 400, PARAM,
     "Partial mode is not supported in thinking mode"),
    ("translation model with a system message", {"model": "qwen-mt-plus", "messages": [
        {"role": "system", "content": "x"}, USER],
        "translation_options": {"target_lang": "French"}}, 400, PARAM, "system"),
]


@pytest.mark.parametrize(("body", "status", "code", "message"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_rule_violation_gets_the_dashscope_envelope(server: ServerProcess, body: dict[str, Any],
                                                    status: int, code: str,
                                                    message: str) -> None:
    reply = httpx.post(f"{server.url}/compatible-mode/v1/chat/completions", json=body)
    assert reply.status_code == status, reply.text
    payload = reply.json()
    assert set(payload) == {"error", "request_id"}
    assert payload["error"]["code"] == code
    assert message in payload["error"]["message"]
    assert payload["error"]["type"] in ("invalid_request_error",)
    assert payload["request_id"]


@pytest.mark.parametrize("raw", [b"{", b"", b"null", b"[1,2]", b'"text"', b"\xff\xfe",
                                 b'{"model": "qwen-plus", "messages": [}'])
def test_body_that_is_not_a_json_object(server: ServerProcess, raw: bytes) -> None:
    reply = httpx.post(f"{server.url}/v1/chat/completions", content=raw,
                       headers={"content-type": "application/json"})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "invalid_request_error"
    assert error["message"] == "Required body invalid, please check the request body format."


def test_prompt_longer_than_the_context(server: ServerProcess) -> None:
    long_text = "hello " * 9000  # more tokens than the default 8192-token context
    reply = httpx.post(f"{server.url}/v1/chat/completions", json={
        "model": "qwen-plus", "messages": [{"role": "user", "content": long_text}]}, timeout=60)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == PARAM
    assert error["message"] == "Range of input length should be [1, 8191]"


def test_unknown_path_and_method_get_envelopes(server: ServerProcess) -> None:
    missing = httpx.get(f"{server.url}/compatible-mode/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"]
    wrong_method = httpx.get(f"{server.url}/v1/chat/completions")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["request_id"]


GARBAGE: list[Any] = [
    {"model": "qwen-plus", "messages": [{"role": "user"}]},
    {"model": "qwen-plus", "messages": [{"content": "x"}]},
    {"model": "qwen-plus", "messages": [{"role": None, "content": None}]},
    {"model": "qwen-plus", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
    {"model": "qwen-plus", "messages": [{"role": "user", "content": [7]}]},
    {"model": "qwen-plus", "messages": [USER], "stop": {"a": 1}},
    {"model": "qwen-plus", "messages": [USER], "tools": "all"},
    {"model": "qwen-plus", "messages": [USER], "tools": [{"type": "function"}]},
    {"model": "qwen-plus", "messages": [USER], "tool_choice": {"type": "function"}},
    {"model": "qwen-plus", "messages": [USER], "response_format": {"type": "yaml"}},
    {"model": "qwen-plus", "messages": [USER], "response_format": "json"},
    {"model": "qwen-plus", "messages": [USER], "logit_bias": {"x": 1}},
    {"model": "qwen-plus", "messages": [USER], "n": 1.5},
    {"model": "qwen-plus", "messages": [USER], "stream": "yes"},
    {"model": "qwen-plus", "messages": [USER], "max_tokens": True},
    {"model": "qwen-plus", "messages": [USER], "seed": -1},
    {"model": "qwen-plus", "messages": [USER], "translation_options": []},
    {"model": "qwen-plus", "messages": [{"role": "assistant", "tool_calls": [{}]}, USER]},
    {"model": ["qwen-plus"], "messages": [USER]},
    {"model": "qwen-plus", "messages": [USER] * 3 + [{"role": "tool", "content": "x"}]},
    {"model": "qwen-plus", "messages": [{"role": "user", "content": "\ud800"}]},
]


@pytest.mark.parametrize("body", GARBAGE, ids=[str(i) for i in range(len(GARBAGE))])
def test_malformed_input_is_a_400_never_a_500(server: ServerProcess, body: Any) -> None:
    raw = json.dumps(body).encode()
    reply = httpx.post(f"{server.url}/v1/chat/completions", content=raw,
                       headers={"content-type": "application/json"}, timeout=60)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] in (PARAM, "invalid_request_error")
    assert httpx.get(f"{server.url}/health").status_code == 200
