"""`qwenchat chat` with real reasoning: where it is printed, hidden, saved and collapsed.

The starter model never thinks, so these tests run a server on the Qwen3 fixture model (real
Qwen3 template and vocabulary, random weights) and make it emit an exact thinking answer with
the `grammar` request extension.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.qwenchat import QWENCHAT, ServerProcess
from tests.cli.test_chat import chat_env
from tests.cli.test_chat_interactive import PROMPT, Terminal

REASONING = "The user asks about France."
ANSWER = "Paris is the capital."
OUTPUT = f"<think>\n{REASONING}\n</think>\n\n{ANSWER}"
REQUEST = json.dumps({
    "model": "qwen3.6-plus", "max_tokens": 60,
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
    "grammar": "root ::= " + json.dumps(OUTPUT),
})


@pytest.fixture(scope="module")
def qwen3_url(qwen3_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("qwen3-chat")
    server = ServerProcess(["--model", str(qwen3_model), "--threads", "1"], home,
                           home / "server.log")
    try:
        server.wait_ready()
        yield f"{server.url}/compatible-mode/v1"
    finally:
        server.stop()


def chat(url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(QWENCHAT), "chat", "--base-url", url, "--request", REQUEST,
                             *args], capture_output=True, text=True, timeout=120,
                            env=chat_env(home), check=False)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("stream", [[], ["--stream"]], ids=["whole", "streamed"])
def test_reasoning_goes_to_stderr_and_the_answer_to_stdout(
        qwen3_url: str, tmp_path: Path, stream: list[str]) -> None:
    shown = chat(qwen3_url, tmp_path, *stream)
    assert shown.stdout == ANSWER + "\n"
    assert shown.stderr == REASONING + "\n"
    hidden = chat(qwen3_url, tmp_path, "--hide-reasoning", *stream)
    assert hidden.stdout == ANSWER + "\n"
    assert hidden.stderr == ""


@pytest.mark.parametrize("thinking", [[], ["--enable-thinking"]], ids=["default", "thinking"])
@pytest.mark.parametrize("stream", [[], ["--stream"]], ids=["whole", "streamed"])
def test_the_reference_flags_print_the_text_and_save_the_json(
        qwen3_url: str, tmp_path: Path, stream: list[str], thinking: list[str]) -> None:
    """`--print-response` prints the generated text on stdout and the reasoning on stderr;
    the response JSON goes only to `--output`."""
    out = tmp_path / "out"
    result = chat(qwen3_url, tmp_path, "--print-response", "--output", str(out),
                  *stream, *thinking)
    [saved] = out.iterdir()
    assert result.stdout == ANSWER + "\n"
    assert result.stderr == f"{REASONING}\nsaved {saved}\n"
    response = json.loads(saved.read_text())
    assert response["choices"][0]["message"]["content"] == ANSWER
    assert response["reasoning"] == REASONING
    hidden = chat(qwen3_url, tmp_path, "--print-response", "--hide-reasoning",
                  *stream, *thinking)
    assert (hidden.stdout, hidden.stderr) == (ANSWER + "\n", "")


@pytest.mark.parametrize("stream", [[], ["--stream"]], ids=["whole", "streamed"])
def test_json_prints_the_response_alone_on_stdout(
        qwen3_url: str, tmp_path: Path, stream: list[str]) -> None:
    result = chat(qwen3_url, tmp_path, "--json", *stream)
    assert json.loads(result.stdout)["choices"][0]["message"]["content"] == ANSWER
    streamed_text = ANSWER + "\n" if stream else ""  # a stream still shows, on stderr
    assert result.stderr == REASONING + "\n" + streamed_text


@pytest.mark.parametrize("stream", [[], ["--stream"]], ids=["whole", "streamed"])
def test_saved_and_printed_json_carry_the_reasoning_on_top(
        qwen3_url: str, tmp_path: Path, stream: list[str]) -> None:
    printed = chat(qwen3_url, tmp_path, "--json", "--hide-reasoning",
                   "--output", str(tmp_path / "saved.json"), *stream)
    for response in (json.loads(printed.stdout),
                     json.loads((tmp_path / "saved.json").read_text())):
        assert response["reasoning"] == REASONING
        assert response["choices"][0]["message"]["reasoning_content"] == REASONING
        assert response["choices"][0]["message"]["content"] == ANSWER
        assert response["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


def test_interactive_reasoning_is_collapsed_until_shown(qwen3_url: str, tmp_path: Path) -> None:
    params = {key: value for key, value in json.loads(REQUEST).items() if key != "messages"}
    session = Terminal([str(QWENCHAT), "chat", "--base-url", qwen3_url, "-i", "--request",
                        json.dumps(params)], {**chat_env(tmp_path), "TERM": "xterm"}, tmp_path)
    try:
        session.expect(PROMPT)
        collapsed = session.ask("What is the capital of France?")
        assert f"thinking… ({len(REASONING)} chars" in collapsed
        assert REASONING not in collapsed and ANSWER in collapsed
        session.ask("/think show")
        shown = session.ask("And again?")
        assert REASONING in shown and ANSWER in shown
        session.send("/exit")
        assert session.wait() == 0
    finally:
        session.close()
