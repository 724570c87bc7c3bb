"""`qwenchat chat` one-shot: the reference script's flags, tools, history and exit codes;
`qwenchat models` and `qwenchat history`, and the `chat` flags that were their first spelling.

Every test runs the real console script against a real `qwenchat serve` on the starter model
(the session's `server` fixture), with its own QWENCHAT_HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness.process import free_port
from harness.qwenchat import QWENCHAT, ServerProcess

from qwenchat.client import ConversationStore

CAPITAL = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOL = "tests/cli/tools_example.py:get_weather"
FORCE_WEATHER = {"type": "function", "function": {"name": "get_weather"}}
ENVIRONMENT_KNOBS = ("QWEN_BASE_URL", "QWEN_REGION", "DASHSCOPE_API_KEY", "QWEN_API_KEY",
                     "QWENCLOUD_API_KEY")
Chat = Callable[..., subprocess.CompletedProcess[str]]


def chat_env(home: Path) -> dict[str, str]:
    """The environment of a `qwenchat chat` subprocess: its own home, no ambient endpoint."""
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_KNOBS}
    return {**env, "QWENCHAT_HOME": str(home), "NO_COLOR": "1"}


def body(**fields: Any) -> str:
    """A --request body: the capital question, short and deterministic, plus ``fields``."""
    return json.dumps({"model": "qwen-plus", "messages": CAPITAL, "max_tokens": 30,
                       "temperature": 0, **fields})


@pytest.fixture
def chat(server: ServerProcess, tmp_path: Path) -> Chat:
    """Run `qwenchat chat --base-url <server> ARGS...` in tmp_path; stdin is ``stdin``."""
    def run(*args: str, stdin: str = "", base_url: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        url = base_url or f"{server.url}/compatible-mode/v1"
        return subprocess.run([str(QWENCHAT), "chat", "--base-url", url, *args],
                              input=stdin, capture_output=True, text=True, timeout=180,
                              env=chat_env(tmp_path / "home"), cwd=Path.cwd(), check=False)
    return run


@pytest.fixture
def qwenchat(server: ServerProcess, tmp_path: Path) -> Chat:
    """Run `qwenchat ARGS...` with the same home and environment as ``chat``."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(QWENCHAT), *args], capture_output=True, text=True,
                              timeout=180, env=chat_env(tmp_path / "home"), cwd=Path.cwd(),
                              check=False)
    return run


def stored(home: Path) -> list[dict[str, Any]]:
    """The messages of the latest conversation in ``home``'s history."""
    with ConversationStore(home / "history.db") as store:
        latest = store.latest()
        assert latest is not None
        return store.messages(latest)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


def test_request_prints_the_answer(chat: Chat) -> None:
    result = ok(chat("--request", body()))
    assert "Paris" in result.stdout
    assert "Paris" not in result.stderr


def test_file_reads_the_request(chat: Chat, tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text(body())
    assert ok(chat("--file", str(request))).stdout == ok(chat("--request", body())).stdout


def test_prompt_argument_and_stdin_become_the_user_message(chat: Chat) -> None:
    short = json.dumps({"model": "qwen-plus", "max_tokens": 30, "temperature": 0})
    by_argument = ok(chat("--request", short, "What is the capital of France?")).stdout
    by_stdin = ok(chat("--request", short, stdin="What is the capital of France?")).stdout
    assert "Paris" in by_argument
    assert by_stdin == by_argument == ok(chat("--request", body())).stdout


def test_model_overrides_the_request(chat: Chat) -> None:
    result = ok(chat("--request", body(), "--model", "qwen-turbo", "--json"))
    assert json.loads(result.stdout)["model"] == "qwen-turbo"


def test_default_model_is_the_guides(chat: Chat) -> None:
    request = json.dumps({"messages": CAPITAL, "max_tokens": 5})
    assert json.loads(ok(chat("--request", request, "--json")).stdout)[
        "model"] == "qwen3.6-plus"


def test_stream_prints_the_same_answer_to_stdout(chat: Chat) -> None:
    streamed = ok(chat("--request", body(), "--stream"))
    assert streamed.stdout == ok(chat("--request", body())).stdout
    assert "Paris" in streamed.stdout
    assert "Paris" not in streamed.stderr


@pytest.mark.parametrize("thinking", [[], ["--enable-thinking"]], ids=["default", "thinking"])
@pytest.mark.parametrize("stream", [[], ["--stream"]], ids=["whole", "streamed"])
def test_print_response_prints_the_text_and_output_alone_gets_the_json(
        chat: Chat, tmp_path: Path, stream: list[str], thinking: list[str]) -> None:
    saved = tmp_path / "response.json"
    result = ok(chat("--request", body(), "--print-response", "--output", str(saved),
                     *stream, *thinking))
    response = json.loads(saved.read_text())
    answer = response["choices"][0]["message"]["content"]
    assert "Paris" in answer
    assert result.stdout == answer + "\n"  # the generated text, no JSON
    assert result.stderr == f"saved {saved}\n"  # the starter has no reasoning to show
    assert ok(chat("--request", body(), *stream, *thinking)).stdout == result.stdout


def test_print_response_and_json_do_not_mix(chat: Chat) -> None:
    both = chat("--request", body(), "--print-response", "--json")
    assert both.returncode == 2 and "give one of them" in both.stderr
    interactive = chat("-i", "--json")
    assert interactive.returncode == 2 and "one-shot options" in interactive.stderr


def test_json_prints_the_normalised_json_only(chat: Chat) -> None:
    for extra in ([], ["--stream"]):
        result = ok(chat("--request", body(), "--json", *extra))
        response = json.loads(result.stdout)  # stdout is the JSON and nothing else
        assert response["id"].startswith("chatcmpl-")
        assert response["object"] == "chat.completion"
        assert "Paris" in response["choices"][0]["message"]["content"]
        assert "reasoning" in response
        assert response["usage"]["total_tokens"] > 0
    assert "Paris" in result.stderr  # streamed text still shows, on stderr


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_output_saves_the_response_as_a_file_or_into_a_directory(
        chat: Chat, tmp_path: Path, stream: bool) -> None:
    flags = ["--stream"] if stream else []
    file_result = ok(chat("--request", body(), "--output", str(tmp_path / "r.json"), *flags))
    saved = json.loads((tmp_path / "r.json").read_text())
    ok(chat("--request", body(), "--output", str(tmp_path / "out"), *flags))
    [in_dir] = (tmp_path / "out").iterdir()
    by_id = json.loads(in_dir.read_text())
    assert in_dir.name == f"{by_id['id']}.json"
    for response in (saved, by_id):
        assert set(response) >= {"id", "choices", "usage", "reasoning"}
        assert response["choices"][0]["message"]["content"] in file_result.stdout
        assert response["usage"]["completion_tokens"] > 0  # streams ask for usage too


def test_enable_thinking_reaches_the_server(chat: Chat) -> None:
    result = ok(chat("--request", body(), "--enable-thinking", "--json"))
    assert json.loads(result.stdout)["model"] == "qwen-plus"
    # The starter does not think; the server's thinking rules show the flag arrived.
    forced = body(messages=WEATHER, tool_choice=FORCE_WEATHER)
    refused = chat("--request", forced, "--tool", TOOL, "--enable-thinking")
    assert refused.returncode == 3
    assert "thinking mode" in refused.stderr
    assert chat("--model", "qwq-plus", "--request", body(), "--disable-thinking").returncode == 3
    assert ok(chat("--model", "qwq-plus", "--request", body())).stdout  # its default stands


def test_hide_reasoning_keeps_the_answer(chat: Chat) -> None:
    for extra in ([], ["--stream"]):
        result = ok(chat("--request", body(), "--hide-reasoning", *extra))
        assert "Paris" in result.stdout


def test_forced_tool_call_runs_the_tool_and_answers(chat: Chat, tmp_path: Path) -> None:
    request = body(messages=WEATHER, max_tokens=40, tool_choice=FORCE_WEATHER)
    for flags in (["--tool", TOOL], ["--tools-file", "tests/cli/tools_example.py", "--stream"]):
        result = ok(chat("--request", request, *flags, "--json"))
        assert '→ get_weather({"city": "Paris"})' in result.stderr  # each call is shown
        final = json.loads(result.stdout)
        assert final["choices"][0]["finish_reason"] != "tool_calls"
    history = ok(chat("--history")).stdout.splitlines()
    assert "4 messages" in history[0]  # user, assistant call, tool result, answer
    roles = [message["role"] for message in stored(tmp_path / "home")]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert stored(tmp_path / "home")[2]["content"] == "Sunny and 21 degrees in Paris."


def test_confirm_asks_before_running_a_tool(chat: Chat, tmp_path: Path) -> None:
    request = body(messages=WEATHER, max_tokens=40, tool_choice=FORCE_WEATHER)
    result = ok(chat("--request", request, "--tool", TOOL, "--confirm", stdin="n\n"))
    assert "Run → get_weather" in result.stderr
    assert "declined" in stored(tmp_path / "home")[2]["content"]


def test_unrun_tool_call_is_reported(chat: Chat) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    result = ok(chat("--request", body(messages=WEATHER, tools=tools, max_tokens=40,
                                       tool_choice=FORCE_WEATHER)))
    assert "get_weather" in result.stderr and "not run" in result.stderr


def test_continue_and_conversation_extend_the_stored_history(chat: Chat) -> None:
    short = json.dumps({"model": "qwen-plus", "max_tokens": 20, "temperature": 0})
    ok(chat("--request", short, "--system", "Answer briefly.", "Name a colour."))
    ok(chat("--request", short, "Name a fruit."))
    fruit, colour = (line.split()[0] for line in ok(chat("--history")).stdout.splitlines())
    ok(chat("--request", short, "--continue", "And another?"))  # the latest: fruit
    ok(chat("--request", short, "--conversation", colour[:4], "And another?"))  # a prefix
    counts = {line.split()[0]: line for line in ok(chat("--history")).stdout.splitlines()}
    assert "4 messages" in counts[fruit]
    assert "5 messages" in counts[colour]  # the system prompt is stored as a message too


def test_list_models(chat: Chat, qwenchat: Chat, server: ServerProcess) -> None:
    url = f"{server.url}/compatible-mode/v1"
    listed = ok(qwenchat("models", "list", "--base-url", url))
    assert {"qwen3.6-plus", "qwen-plus"} <= set(listed.stdout.split())
    assert ok(chat("--list-models")).stdout == listed.stdout  # the older spelling


def test_history_lists_and_shows_the_conversations(chat: Chat, qwenchat: Chat) -> None:
    assert "No conversations yet." in ok(qwenchat("history", "list")).stderr
    short = json.dumps({"model": "qwen-plus", "max_tokens": 20, "temperature": 0})
    ok(chat("--request", short, "Name a colour."))
    ok(chat("--request", short, "Name a fruit."))
    listed = ok(qwenchat("history", "list")).stdout
    assert ok(chat("--history")).stdout == listed  # the older spelling
    fruit, colour = (line.split()[0] for line in listed.splitlines())
    assert ok(qwenchat("history", "list", "--limit", "1")).stdout.split()[0] == fruit
    shown = json.loads(ok(qwenchat("history", "show", colour[:4])).stdout)
    assert shown["id"] == colour and shown["model"] == "qwen-plus"
    assert [m["role"] for m in shown["messages"]] == ["user", "assistant"]
    assert shown["messages"][0]["content"] == "Name a colour."
    unknown = qwenchat("history", "show", "abc123")
    assert unknown.returncode == 2 and "qwenchat history list" in unknown.stderr


def test_unknown_model_is_an_api_error_that_says_how_to_list_models(chat: Chat) -> None:
    result = chat("--request", body(), "--model", "qwen-nope")
    assert result.returncode == 3
    assert "qwen-nope" in result.stderr and "qwenchat models list" in result.stderr


@pytest.mark.parametrize("request_json", ["{not json", "[1, 2]"])
def test_bad_request_json_is_a_usage_error(chat: Chat, request_json: str) -> None:
    result = chat("--request", request_json)
    assert result.returncode == 2
    assert "--request" in result.stderr


def test_nothing_to_send_is_a_usage_error(chat: Chat) -> None:
    assert "Nothing to send" in chat(stdin="").stderr
    assert chat(stdin="").returncode == 2


def test_nothing_to_continue_is_a_usage_error(chat: Chat) -> None:
    assert "No conversations yet." in ok(chat("--history")).stderr
    latest = chat("--continue", "Hello?")
    assert latest.returncode == 2 and "no conversation to continue" in latest.stderr
    unknown = chat("--conversation", "abc123", "Hello?")
    assert unknown.returncode == 2 and "qwenchat history list" in unknown.stderr


def test_connection_refused_is_a_connection_error_after_retries(chat: Chat) -> None:
    url = f"http://127.0.0.1:{free_port()}/compatible-mode/v1"
    result = chat("--request", body(), "--retries", "1", base_url=url)
    assert result.returncode == 4
    assert "retrying" in result.stderr  # one retry, shown
    assert "could not connect" in result.stderr and "retried 1 times" in result.stderr


def test_unloadable_tool_is_a_usage_error(chat: Chat) -> None:
    result = chat("--request", body(), "--tool", "tests/cli/tools_example.py:nothing")
    assert result.returncode == 2
    assert "nothing" in result.stderr
