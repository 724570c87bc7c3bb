"""Dialect translation, both ways, on the shapes vLLM, SGLang, llama-server and DashScope
send (the real upstreams are exercised in tests/api/test_upstream.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from qwenchat.catalog import BUILTIN_PROFILES
from qwenchat.core import (
    ContentDelta,
    Finish,
    FinishReason,
    ReasoningDelta,
    ToolCallDelta,
    Usage,
)
from qwenchat.errors import InvalidParameter, ModelUnavailable, RateLimited
from qwenchat.protocol import check_for_model, parse_chat_request
from qwenchat.upstream import Dialect, chunk_events, error_from, upstream_body

BODY: dict[str, Any] = {
    "model": "qwen3.6-plus",
    "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "reasoning_content": "greet back"},
        {"role": "user", "content": "What is 2+2?"},
    ],
    "enable_thinking": False,
    "temperature": 0.5,
    "translation_options": None,
}


def translated(dialect: Dialect, **fields: Any) -> dict[str, Any]:
    body = {**BODY, **fields}
    request = check_for_model(parse_chat_request(json.dumps(body).encode()),
                              BUILTIN_PROFILES["qwen3.6-plus"])
    return upstream_body(body, request, "Qwen/Qwen3-32B", dialect)


@pytest.mark.parametrize("dialect", list(Dialect))
def test_every_dialect_streams_with_usage_under_the_upstream_name(dialect: Dialect) -> None:
    out = translated(dialect, max_tokens=100)
    assert out["model"] == "Qwen/Qwen3-32B"
    assert out["stream"] is True
    assert out["stream_options"] == {"include_usage": True}
    assert out["max_tokens"] == 100
    assert out["temperature"] == 0.5


@pytest.mark.parametrize("dialect", list(Dialect))
def test_an_unset_max_tokens_is_the_ids_default_but_for_vllm(dialect: Dialect) -> None:
    out = translated(dialect, max_tokens=None)
    if dialect is Dialect.VLLM:  # it refuses 65,536 above its context length
        assert "max_tokens" not in out
    else:
        assert out["max_tokens"] == BUILTIN_PROFILES["qwen3.6-plus"].max_output


@pytest.mark.parametrize("dialect", list(Dialect))
def test_max_completion_tokens_reaches_every_dialect(dialect: Dialect) -> None:
    out = translated(dialect, max_tokens=100, max_completion_tokens=40)
    if dialect is Dialect.DASHSCOPE:  # both, as sent: DashScope applies them itself
        assert (out["max_tokens"], out["max_completion_tokens"]) == (100, 40)
    elif dialect is Dialect.LLAMA_SERVER:  # one limit on everything, under its own name
        assert out["max_tokens"] == 40 and "max_completion_tokens" not in out
    else:  # one limit on everything, under the name they document for it
        assert out["max_completion_tokens"] == 40 and "max_tokens" not in out
    smaller_answer = translated(dialect, max_tokens=30, max_completion_tokens=40)
    assert 30 in (smaller_answer.get("max_tokens"), smaller_answer.get("max_completion_tokens"))
    alone = translated(dialect, max_completion_tokens=40)
    assert alone.get("max_completion_tokens", alone.get("max_tokens")) == 40


@pytest.mark.parametrize("dialect", [Dialect.VLLM, Dialect.SGLANG, Dialect.LLAMA_SERVER])
def test_template_dialects_get_the_thinking_switch_as_a_template_argument(
        dialect: Dialect) -> None:
    off = translated(dialect)
    assert off["chat_template_kwargs"] == {"enable_thinking": False}
    assert "enable_thinking" not in off and "translation_options" not in off
    on = translated(dialect, enable_thinking=None, chat_template_kwargs={"x": 1})
    assert on["chat_template_kwargs"] == {"enable_thinking": True}  # the id's default


def test_vllm_gets_the_budget_and_reads_reasoning_under_its_new_name() -> None:
    out = translated(Dialect.VLLM, enable_thinking=True, thinking_budget=64)
    assert out["thinking_token_budget"] == 64
    assert out["messages"][1] == {"role": "assistant", "content": "Hello",
                                  "reasoning": "greet back"}
    assert BODY["messages"][1]["reasoning_content"] == "greet back"  # not changed in place


def test_dashscope_gets_its_own_fields_as_they_are() -> None:
    out = translated(Dialect.DASHSCOPE, enable_thinking=True, thinking_budget=64)
    assert out["enable_thinking"] is True and out["thinking_budget"] == 64
    assert "chat_template_kwargs" not in out
    assert out["messages"][1]["reasoning_content"] == "greet back"


def test_plain_openai_gets_no_thinking_fields() -> None:
    out = translated(Dialect.OPENAI, enable_thinking=True, thinking_budget=64)
    assert not {"enable_thinking", "thinking_budget", "chat_template_kwargs",
                "thinking_token_budget"} & set(out)


def chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0,
          **extra: Any) -> dict[str, Any]:
    return {"id": "x", "object": "chat.completion.chunk",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish}], **extra}


def test_reasoning_under_either_name_content_tools_and_finish_become_events() -> None:
    assert chunk_events(chunk({"role": "assistant", "content": ""})) == []
    assert chunk_events(chunk({"reasoning": "hmm"})) == [ReasoningDelta(0, "hmm")]
    assert chunk_events(chunk({"reasoning_content": "hmm"})) == [ReasoningDelta(0, "hmm")]
    assert chunk_events(chunk({"content": "4"}, index=1)) == [ContentDelta(1, "4")]
    call = {"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "add", "arguments": '{"a":'}}
    assert chunk_events(chunk({"tool_calls": [call]})) == [
        ToolCallDelta(choice=0, index=0, arguments='{"a":', id="call_1", name="add")]
    assert chunk_events(chunk({}, "tool_calls")) == [Finish(0, FinishReason.TOOL_CALLS)]
    assert chunk_events(chunk({}, "abort")) == [Finish(0, FinishReason.STOP)]


def test_the_usage_chunk_becomes_usage_with_its_details() -> None:
    usage = {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42,
             "prompt_tokens_details": {"cached_tokens": 16},
             "completion_tokens_details": {"reasoning_tokens": 5}}
    assert chunk_events({"choices": [], "usage": usage}) == [Usage(30, 12, 16, 5)]


def test_upstream_errors_map_to_dashscope_envelopes() -> None:
    bad = error_from(400, b'{"error":{"message":"top_k must be positive"}}')
    assert isinstance(bad, InvalidParameter) and bad.message == "top_k must be positive"
    assert isinstance(error_from(422, b'{"detail":"field required"}'), InvalidParameter)
    limited = error_from(429, b"{}", "7")
    assert isinstance(limited, RateLimited) and limited.retry_after == 7.0
    default = error_from(429, b"{}", "Wed, 21 Oct 2026 07:28:00 GMT")
    assert isinstance(default, RateLimited) and default.retry_after == 1.0
    for status in (401, 500, 503):
        assert isinstance(error_from(status, b"oops"), ModelUnavailable)
    with pytest.raises(ModelUnavailable):
        chunk_events({"error": {"message": "engine died"}})


@pytest.mark.parametrize("dialect", list(Dialect))
def test_fields_the_dialect_does_not_know_are_not_forwarded(dialect: Dialect) -> None:
    out = translated(dialect, chat_template="{{ secrets }}", priority=-100, ignore_eos=True,
                     top_k=20, repetition_penalty=1.1, grammar="root ::= \"a\"",
                     enable_search=False, search_options={"forced_search": True})
    assert not {"chat_template", "priority", "ignore_eos", "enable_search",
                "search_options"} & set(out)
    assert ("top_k" in out) is (dialect is not Dialect.OPENAI)
    assert ("grammar" in out) is (dialect is Dialect.LLAMA_SERVER)
    penalty = "repeat_penalty" if dialect is Dialect.LLAMA_SERVER else "repetition_penalty"
    assert (out.get(penalty) == 1.1) is (dialect is not Dialect.OPENAI)


def test_enable_search_reaches_dashscope_only_where_the_deployment_allows_it() -> None:
    body = {**BODY, "enable_search": True, "search_options": {"forced_search": True}}
    request = check_for_model(parse_chat_request(json.dumps(body).encode()),
                              BUILTIN_PROFILES["qwen3.6-plus"])
    allowed = upstream_body(body, request, "qwen-plus", Dialect.DASHSCOPE, allow_search=True)
    assert allowed["enable_search"] is True and allowed["search_options"]
    for dialect, allow in ((Dialect.DASHSCOPE, False), (Dialect.VLLM, True),
                           (Dialect.OPENAI, True)):
        with pytest.raises(InvalidParameter) as refused:  # no search would happen
            upstream_body(body, request, "m", dialect, allow_search=allow)
        assert refused.value.param == "enable_search"
    off = {**body, "enable_search": False}
    unsearched = check_for_model(parse_chat_request(json.dumps(off).encode()),
                                 BUILTIN_PROFILES["qwen3.6-plus"])
    assert "enable_search" not in upstream_body(off, unsearched, "m", Dialect.VLLM,
                                                allow_search=True)
