"""The tool loop against a real `qwenchat serve`: a forced call to a real Python tool."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from harness.qwenchat import ServerProcess
from tests.client import example_tools

from qwenchat.client import ChatClient, ClientError, resolve_connection, run_tool_loop

ASK = [{"role": "user", "content": "What's the weather in Paris?"}]
FORCE = {"type": "function", "function": {"name": "get_weather"}}


@pytest.fixture
def chat(server: ServerProcess) -> Iterator[ChatClient]:
    connection = resolve_connection(base_url=f"{server.url}/compatible-mode/v1", env={})
    with ChatClient(connection, timeout=120) as client:
        yield client


def _request(**extra: Any) -> dict[str, Any]:
    return {"model": "qwen-plus", "messages": ASK, "tool_choice": FORCE, "temperature": 0,
            "seed": 1, "max_tokens": 60, **extra}


@pytest.mark.parametrize("stream", [False, True])
def test_forced_call_runs_the_tool_and_ends_with_an_answer(chat: ChatClient,
                                                           stream: bool) -> None:
    example_tools.CALLS.clear()
    shown: list[tuple[str, dict[str, Any]]] = []
    content: list[str] = []
    result = run_tool_loop(chat, _request(), [example_tools.get_weather, example_tools.add],
                           stream=stream, on_call=lambda name, args: shown.append((name, args)),
                           on_content=content.append)
    assert result.steps >= 2
    assert [name for name, _ in example_tools.CALLS] == ["get_weather"] * len(shown)
    assert shown and shown[0][0] == "get_weather" and isinstance(shown[0][1]["city"], str)
    call_message, tool_message = result.messages[1], result.messages[2]
    assert call_message["role"] == "assistant"
    call = call_message["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == call["id"]
    assert json.loads(tool_message["content"])["sky"] == "sunny"
    final = result.messages[-1]
    assert final["role"] == "assistant" and "tool_calls" not in final
    assert result.response["choices"][0]["message"]["content"] == final["content"]
    assert result.response["choices"][0]["finish_reason"] in ("stop", "length")
    assert result.usage is not None  # summed over the steps, not just the last one
    assert result.usage["prompt_tokens"] > result.response["usage"]["prompt_tokens"]
    assert result.usage["total_tokens"] == (result.usage["prompt_tokens"]
                                            + result.usage["completion_tokens"])
    assert "".join(content) == "".join(m["content"] for m in result.messages
                                       if m["role"] == "assistant")


def test_declined_call_is_answered_without_running(chat: ChatClient) -> None:
    example_tools.CALLS.clear()
    asked: list[str] = []

    def confirm(name: str, arguments: dict[str, Any]) -> bool:
        asked.append(name)
        return False

    result = run_tool_loop(chat, _request(), [example_tools.get_weather], confirm=confirm)
    assert asked[0] == "get_weather" and example_tools.CALLS == []
    assert result.messages[2] == {"role": "tool", "tool_call_id": result.messages[1][
        "tool_calls"][0]["id"], "content": "The user declined to run this tool."}


def test_a_failing_tool_becomes_an_error_result(chat: ChatClient) -> None:
    request = _request(tool_choice={"type": "function", "function": {"name": "explode"}})
    result = run_tool_loop(chat, request, [example_tools.explode])
    assert result.messages[2]["content"].startswith("Error: RuntimeError: boom: ")


def test_max_steps_bounds_the_loop(chat: ChatClient) -> None:
    with pytest.raises(ClientError, match="after 1 steps") as caught:
        run_tool_loop(chat, _request(), [example_tools.get_weather], max_steps=1)
    assert caught.value.exit_code == 3
