"""ChatClient against a real `qwenchat serve` on the starter model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from harness.qwenchat import ServerProcess

from qwenchat.client import ChatClient, ClientError, resolve_connection

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def chat(server: ServerProcess) -> Iterator[ChatClient]:
    connection = resolve_connection(base_url=f"{server.url}/compatible-mode/v1", env={})
    with ChatClient(connection, timeout=120) as client:
        yield client


def test_connection_to_the_local_server_needs_no_key(server: ServerProcess) -> None:
    connection = resolve_connection(base_url=f"{server.url}/compatible-mode/v1", env={})
    assert connection.api_key == "sk-local"


def test_non_stream_is_normalised_and_calls_back_once(chat: ChatClient) -> None:
    content: list[str] = []
    reasoning: list[str] = []
    response = chat.complete({"model": "qwen-plus", "messages": QUESTION, "temperature": 0,
                              "max_tokens": 40}, on_content=content.append,
                             on_reasoning=reasoning.append)
    message = response["choices"][0]["message"]
    assert response["object"] == "chat.completion" and response["model"] == "qwen-plus"
    assert "reasoning" in response and not response["reasoning"]
    assert content == [message["content"]] and "Paris" in message["content"]
    assert reasoning == []
    assert response["usage"]["completion_tokens"] > 0


def test_stream_reassembles_to_the_non_stream_answer(chat: ChatClient) -> None:
    request: dict[str, Any] = {"model": "qwen-plus", "messages": QUESTION, "seed": 7,
                               "temperature": 0.8, "max_tokens": 40}
    whole = chat.complete(request)
    deltas: list[str] = []
    streamed = chat.complete(request, stream=True, on_content=deltas.append)
    assert len(deltas) > 1
    assert "".join(deltas) == streamed["choices"][0]["message"]["content"]
    assert streamed["choices"] == whole["choices"]
    assert streamed["usage"] == whole["usage"] and streamed["usage"]["total_tokens"] > 0
    assert streamed.keys() == whole.keys() and "reasoning" in streamed
    assert streamed["object"] == "chat.completion"


def test_dashscope_extras_reach_the_server(chat: ChatClient) -> None:
    # qwen3-coder-plus cannot think: the server refuses the field only if it arrived
    with pytest.raises(ClientError, match="does not support enable_thinking") as caught:
        chat.complete({"model": "qwen3-coder-plus", "messages": QUESTION,
                       "enable_thinking": True, "stream": True})
    assert caught.value.status == 400 and caught.value.exit_code == 3


def test_unknown_model_says_how_to_list_models(chat: ChatClient) -> None:
    with pytest.raises(ClientError, match="qwenchat models list") as caught:
        chat.complete({"model": "no-such-model", "messages": QUESTION})
    assert (caught.value.status, caught.value.code) == (404, "model_not_found")


def test_list_models(chat: ChatClient) -> None:
    assert "qwen-plus" in chat.list_models()


def test_a_request_without_model_is_a_usage_error(chat: ChatClient) -> None:
    with pytest.raises(ClientError) as caught:
        chat.complete({"messages": QUESTION})
    assert caught.value.exit_code == 2
