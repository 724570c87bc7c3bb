"""``max_completion_tokens`` through a real ``qwenchat serve``, from the official SDK and from
LangChain's ``ChatOpenAI`` (whose ``max_tokens`` it sends under that name): the output stops
at the limit with ``finish_reason: "length"``, streamed and not, with thinking off (the
starter) and on (the Qwen3 fixture, where the limit counts the reasoning too and a thinking
budget still closes the reasoning inside it); ``max_tokens`` still bounds the answer; the
gateway reserves the limit and settles what was used."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from harness.qwenchat import ServerProcess, create_key, run_cli, sdk
from langchain_core.messages import AIMessageChunk
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

STARTER_NO_EOS = {"2": -100}  # the starter's <|im_end|>
ASK: dict[str, Any] = {"model": "qwen-plus", "logit_bias": STARTER_NO_EOS,
                       "messages": [{"role": "user", "content": "Tell me a long story."}]}
# the fixture's end-of-generation ids; llama.cpp reads its '</s>' (128247) as one too
QWEN3_NO_EOS = {str(t): -100 for t in (151643, 151645, 151662, 151663, 151664, 128247)}
QWEN3_THINK_TAGS = {"151667": 30, "151668": 30}  # <think>, </think> as Qwen's special tokens
REASONING = "<think>\nThe user asks about France, so the answer is its capital city.\n</think>\n\n"
QWEN3: dict[str, Any] = {
    "model": "qwen3.6-plus", "messages": [{"role": "user", "content": "Capital of France?"}],
    "extra_body": {"grammar": "root ::= " + json.dumps(REASONING + "Paris is the capital.")}}


def langchain(url: str, **fields: Any) -> ChatOpenAI:
    return ChatOpenAI(base_url=f"{url}/compatible-mode/v1", api_key=SecretStr("sk-test"),
                      max_retries=0, stream_usage=True, **fields)


def answer(client: openai.OpenAI, stream: bool, **fields: Any) -> tuple[str, str | None, Any]:
    """The content, finish_reason and usage of one choice, streamed or not."""
    if not stream:
        reply = client.chat.completions.create(**fields)
        return reply.choices[0].message.content or "", reply.choices[0].finish_reason, reply.usage
    content, finish, usage = "", None, None
    for chunk in client.chat.completions.create(
            stream=True, stream_options={"include_usage": True}, **fields):
        usage = chunk.usage or usage
        for choice in chunk.choices:
            content += choice.delta.content or ""
            finish = choice.finish_reason or finish
    return content, finish, usage


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_sdks_limit_ends_the_answer_with_length(client: openai.OpenAI, stream: bool) -> None:
    content, finish, usage = answer(client, stream, **ASK, max_completion_tokens=5)
    assert content and finish == "length"
    assert usage is not None and usage.completion_tokens == 5


def test_both_limits_apply_and_the_output_cap_still_holds(client: openai.OpenAI) -> None:
    for answer, total in ((3, 50), (50, 3)):
        reply = client.chat.completions.create(**ASK, max_tokens=answer,
                                               max_completion_tokens=total)
        assert reply.choices[0].finish_reason == "length"
        assert reply.usage is not None and reply.usage.completion_tokens == 3
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(**ASK, max_completion_tokens=32_769)
    assert "Range of max_completion_tokens should be [1, 32768]" in str(refused.value)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(**ASK, max_completion_tokens=0)


def test_langchain_sends_max_tokens_as_max_completion_tokens(server: ServerProcess) -> None:
    llm = langchain(server.url, model="qwen-plus", max_tokens=5, logit_bias=STARTER_NO_EOS)
    payload = llm._get_request_payload("Tell me a long story.")
    assert payload["max_completion_tokens"] == 5 and "max_tokens" not in payload
    reply = llm.invoke("Tell me a long story.")
    assert reply.content and reply.response_metadata["finish_reason"] == "length"
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] == 5
    total: AIMessageChunk | None = None
    for chunk in llm.stream("Tell me a long story."):
        assert isinstance(chunk, AIMessageChunk)
        total = chunk if total is None else total + chunk
    assert total is not None and total.content
    assert total.response_metadata["finish_reason"] == "length"
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] == 5


@pytest.fixture(scope="module")
def qwen3_server(qwen3_model: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("qwen3-limits")
    with ServerProcess(["--model", str(qwen3_model), "--threads", "1"], home,
                       home / "server.log") as proc:
        yield proc


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_with_thinking_the_limit_counts_the_reasoning(qwen3_server: ServerProcess,
                                                      stream: bool) -> None:
    limited = {**QWEN3, "max_tokens": 100, "max_completion_tokens": 4}
    with sdk(qwen3_server.url) as client:
        content, finish, usage = answer(client, stream, **limited)
    assert not content and finish == "length"  # the limit ended it inside the reasoning
    assert usage is not None and usage.completion_tokens == 4
    assert usage.completion_tokens_details.reasoning_tokens == 4


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_a_thinking_budget_closes_the_reasoning_inside_the_limit(qwen3_server: ServerProcess,
                                                                 stream: bool) -> None:
    grammar = 'root ::= "<think>\\n" [ab]+ "\\n</think>\\n\\n" [xy]+'
    limited = {**QWEN3, "max_tokens": 100, "max_completion_tokens": 14,
               "logit_bias": {**QWEN3_NO_EOS, **QWEN3_THINK_TAGS}, "temperature": 1.0,
               "seed": 1,
               "extra_body": {"grammar": grammar, "thinking_budget": 3}}
    with sdk(qwen3_server.url) as client:
        content, finish, usage = answer(client, stream, **limited)
    assert content and set(content) <= {"x", "y"} and finish == "length"
    assert usage is not None and usage.completion_tokens == 14
    assert 3 <= usage.completion_tokens_details.reasoning_tokens <= 3 + 3  # budget + the end


def test_langchain_with_thinking(qwen3_server: ServerProcess) -> None:
    llm = langchain(qwen3_server.url, model="qwen3.6-plus", max_tokens=4,
                    extra_body=QWEN3["extra_body"])
    reply = llm.invoke("Capital of France?")
    assert reply.response_metadata["finish_reason"] == "length"
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] == 4
    total: AIMessageChunk | None = None
    for chunk in llm.stream("Capital of France?"):
        assert isinstance(chunk, AIMessageChunk)
        total = chunk if total is None else total + chunk
    assert total is not None and total.response_metadata["finish_reason"] == "length"
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] == 4


@pytest.fixture(scope="module")
def keyed(starter_model: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    home = tmp_path_factory.mktemp("keyed-limits")
    with ServerProcess(["--model", str(starter_model), "--threads", "1"], home,
                       home / "server.log") as proc:
        yield proc, home


def test_the_gateway_reserves_the_limit_and_settles_what_was_used(
        keyed: tuple[ServerProcess, Path]) -> None:
    server, home = keyed
    secret = create_key(home, "reserve", "--quota-tokens", "1000")
    url = f"{server.url}/compatible-mode/v1/chat/completions"
    headers = {"Authorization": f"Bearer {secret}"}
    small = {**ASK, "max_tokens": 990, "max_completion_tokens": 5}

    # A stream that may generate 990 tokens holds that much of the quota while it runs...
    with httpx.stream("POST", url, headers=headers, timeout=60,
                      json={**ASK, "max_completion_tokens": 990, "stream": True}) as big:
        next(big.iter_lines())  # admitted and generating
        refused = httpx.post(url, headers=headers, json=small, timeout=60)
        assert refused.status_code == 429, refused.text
    wait_for_report(home, requests=2)  # the 429 and the abandoned stream (a 499)
    # ...and is settled to what it used when it ends; one limited to 5 holds only its
    # prompt and 5, whatever its max_tokens, so another fits beside it.
    with httpx.stream("POST", url, headers=headers, timeout=60,
                      json={**small, "stream": True}) as held:
        next(held.iter_lines())
        beside = httpx.post(url, headers=headers, json=small, timeout=60)
        assert beside.status_code == 200, beside.text
    assert beside.json()["usage"]["completion_tokens"] == 5
    row, quota = wait_for_report(home, requests=4)
    assert quota["used_tokens"] == row["prompt_tokens"] + row["completion_tokens"] < 1000


def wait_for_report(home: Path, requests: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The key's usage row and quota once the row counts ``requests`` requests."""
    deadline = time.monotonic() + 20
    while True:
        report = json.loads(run_cli(home, "usage", "--json", "--key", "reserve").stdout)
        usage = report["usage"]
        if usage and usage[0]["requests"] >= requests:
            assert len(usage) == 1 and usage[0]["requests"] == requests
            quota = next(q for q in report["quotas"] if q["key_name"] == "reserve")
            return dict(usage[0]), dict(quota)
        assert time.monotonic() < deadline, f"fewer than {requests} requests were recorded"
        time.sleep(0.2)
