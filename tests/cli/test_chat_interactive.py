"""`qwenchat chat` interactive, driven through a pseudo-terminal like a person at a terminal.

A real console script on a real pty (stdlib `pty`), against the session's starter-model
server: a two-turn conversation with `/think` and `/save`, the other slash commands, resuming
with `--continue`, and a tool call shown in the session.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness.qwenchat import QWENCHAT, ServerProcess
from tests.cli.test_chat import chat_env

PROMPT = ">>> "
SHORT = json.dumps({"model": "qwen-plus", "max_tokens": 20, "temperature": 0})
ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()=>78]|\r")


class Terminal:
    """A command on a pseudo-terminal: type lines into it, wait for what it prints."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        self.process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave,
                                        env=env, cwd=cwd, start_new_session=True)
        os.close(slave)
        self.raw = b""
        self.seen = 0

    @property
    def text(self) -> str:
        """Everything printed so far, without escape sequences."""
        return ESCAPES.sub("", self.raw.decode(errors="replace"))

    def expect(self, needle: str, timeout: float = 90) -> str:
        """Wait until ``needle`` is printed; return the text up to it and move past it."""
        deadline = time.monotonic() + timeout
        while needle not in self.text[self.seen:]:
            if not self._read(deadline - time.monotonic()):
                raise AssertionError(f"no {needle!r}; the terminal shows:\n{self.text}")
        end = self.text.index(needle, self.seen) + len(needle)
        said, self.seen = self.text[self.seen:end], end
        return said

    def send(self, line: str) -> None:
        """Type ``line`` and Enter."""
        os.write(self.master, line.encode() + b"\r")

    def ask(self, line: str) -> str:
        """Type ``line``, wait for the next prompt; what was printed in between."""
        self.send(line)
        return self.expect(PROMPT)

    def wait(self, timeout: float = 30) -> int:
        """Read to the end; the exit status."""
        deadline = time.monotonic() + timeout
        while self._read(deadline - time.monotonic()):
            pass
        return self.process.wait(timeout=max(deadline - time.monotonic(), 1))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the command has exited and closed the terminal
            return False
        self.raw += data
        return bool(data)


Spawn = Callable[..., Terminal]


@pytest.fixture
def spawn(server: ServerProcess, tmp_path: Path) -> Iterator[Spawn]:
    """Start `qwenchat chat --base-url <server> ARGS...` on a pty in tmp_path."""
    opened: list[Terminal] = []

    def start(*args: str) -> Terminal:
        env = {**chat_env(tmp_path / "home"), "TERM": "xterm-256color"}
        env.pop("NO_COLOR")
        command = [str(QWENCHAT), "chat", "--base-url", f"{server.url}/compatible-mode/v1",
                   *args]
        opened.append(Terminal(command, env, tmp_path))
        return opened[-1]

    yield start
    for terminal in opened:
        terminal.close()


def test_two_turns_with_think_and_save_then_continue(spawn: Spawn, tmp_path: Path) -> None:
    session = spawn("--request", SHORT)  # no prompt on a terminal: interactive
    session.expect("/help for commands")
    session.expect(PROMPT)
    assert "thinking: off" in session.ask("/think off")
    assert "Paris" in session.ask("What is the capital of France?")
    session.ask("And what is the capital of Italy?")
    assert "saved 4 messages to first.json" in session.ask("/save first.json")
    usage = session.ask("/usage")
    assert re.search(r"this session: [1-9]\d* prompt \+ [1-9]\d* completion", usage)
    assert "4 messages" in usage
    session.send("/exit")
    assert session.wait() == 0
    first = json.loads((tmp_path / "first.json").read_text())
    assert [m["role"] for m in first["messages"]] == ["user", "assistant"] * 2
    assert first["messages"][0]["content"] == "What is the capital of France?"
    assert first["messages"][2]["content"] == "And what is the capital of Italy?"
    assert "Paris" in first["messages"][1]["content"]

    resumed = spawn("--continue", "-i", "--request", SHORT)
    resumed.expect(f"continuing conversation {first['id']} (4 messages)")
    resumed.expect(PROMPT)
    resumed.ask("And of Spain?")
    assert f"saved 6 messages to qwenchat-{first['id']}.json" in resumed.ask("/save")
    resumed.send("/exit")
    assert resumed.wait() == 0
    again = json.loads((tmp_path / f"qwenchat-{first['id']}.json").read_text())
    assert again["messages"][:4] == first["messages"]
    assert again["messages"][4] == {"role": "user", "content": "And of Spain?"}


def test_slash_commands_change_the_session(spawn: Spawn, tmp_path: Path) -> None:
    session = spawn("-i", "--request", SHORT,
                    "--tools-file", str(Path.cwd() / "tests/cli/tools_example.py"))
    session.expect(PROMPT)
    assert "/think on|off|default" in session.ask("/help")
    assert "get_weather: Tell the current weather in a city." in session.ask("/tools")
    assert "model: qwen-turbo" in session.ask("/model qwen-turbo")
    assert "system: Answer in one word." in session.ask("/system Answer in one word.")
    assert "reasoning shown" in session.ask("/think show")
    assert "unknown command /nope" in session.ask("/nope")
    assert "Error:" not in session.ask("Hello?")
    session.ask("/model qwen-nope")
    failed = session.ask("Hello?")
    assert "Error: The model `qwen-nope` does not exist" in failed
    assert "qwenchat models list" in failed  # and the session goes on
    assert "model: qwen-turbo" in session.ask("/model qwen-turbo")
    assert "new conversation" in session.ask("/clear")
    assert "saved 0 messages" in session.ask("/save empty.json")
    saved = json.loads((tmp_path / "empty.json").read_text())
    assert saved["model"] == "qwen-turbo"
    assert saved["messages"] == [{"role": "system", "content": "Answer in one word."}]
    os.write(session.master, b"\x04")  # Ctrl-D leaves too
    assert session.wait() == 0


def test_tool_call_is_confirmed_shown_and_run(spawn: Spawn, tmp_path: Path) -> None:
    forced = json.dumps({"model": "qwen-plus", "max_tokens": 40, "temperature": 0,
                         "tool_choice": {"type": "function",
                                         "function": {"name": "get_weather"}}})
    session = spawn("-i", "--confirm", "--request", forced, "--tool",
                    f"{Path.cwd()}/tests/cli/tools_example.py:get_weather")
    session.expect(PROMPT)
    session.send("What is the weather in Paris?")
    assert '→ get_weather({"city": "Paris"})' in session.expect("[Y/n]")
    session.send("y")
    session.expect(PROMPT)
    assert "saved 4 messages" in session.ask("/save tools.json")
    session.send("/exit")
    assert session.wait() == 0
    messages = json.loads((tmp_path / "tools.json").read_text())["messages"]
    assert messages[2] == {"role": "tool", "tool_call_id": messages[1]["tool_calls"][0]["id"],
                           "content": "Sunny and 21 degrees in Paris."}
