"""Slow and greedy clients against a real server (5 s for headers, 20 connections at most):
half-sent headers are cut off, oversized headers refused, connections past the cap answered
503 at once, and the official SDK is served meanwhile and afterwards."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from harness.qwenchat import ServerProcess, sdk
from tests.support import http_answer, open_socket, read_answer, read_until_closed

CAP = 20
HALF_HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


@pytest.fixture(scope="module")
def guarded(starter_model: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("connections")
    env = {**os.environ, "QWENCHAT_HEADER_TIMEOUT": "5", "QWENCHAT_KEEP_ALIVE_TIMEOUT": "2"}
    with ServerProcess(["--model", str(starter_model), "--threads", "1",
                        "--max-connections", str(CAP)], home, home / "server.log",
                       env) as proc:
        yield proc


def chat(server: ServerProcess) -> str:
    with sdk(server.url) as client:
        reply = client.chat.completions.create(
            model="qwen-plus", max_tokens=3, messages=[{"role": "user", "content": "Hi"}])
    return reply.choices[0].message.content or ""


def served_within(server: ServerProcess, timeout: float = 60.0) -> None:
    """Poll until a chat request through the SDK succeeds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            chat(server)
            return
        except (openai.APIStatusError, openai.APIConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_half_sent_headers_are_cut_off_while_others_are_served(
        guarded: ServerProcess) -> None:
    slow = [open_socket(guarded.port) for _ in range(CAP // 2)]
    try:
        for sock in slow:
            sock.sendall(HALF_HEAD)
        chat(guarded)  # served while they wait
        for sock in slow:  # each is closed by the server, with nothing sent
            assert read_until_closed(sock) == b""
    finally:
        for sock in slow:
            sock.close()
    chat(guarded)


def test_a_connection_that_sends_nothing_is_closed(guarded: ServerProcess) -> None:
    with open_socket(guarded.port) as sock:
        assert read_until_closed(sock) == b""


def test_connections_past_the_cap_get_a_503_and_the_server_recovers(
        guarded: ServerProcess) -> None:
    held = [open_socket(guarded.port) for _ in range(2 * CAP)]
    try:
        with pytest.raises(openai.APIStatusError) as busy:
            chat(guarded)
        assert busy.value.status_code == 503
        refused = 0
        for sock in held:
            try:
                raw = read_answer(sock, timeout=0.05)
            except TimeoutError:
                continue  # held: within the cap
            status, headers, body = http_answer(raw)
            assert status == 503 and headers["connection"] == "close"
            assert json.loads(body)["error"]["code"] == "ModelServingError"
            refused += 1
        assert refused >= CAP
    finally:
        for sock in held:
            sock.close()
    served_within(guarded)


def test_headers_over_64_kib_are_refused(guarded: ServerProcess) -> None:
    filler = b"X-Filler: " + b"f" * 1000 + b"\r\n"
    for pieces in (1, 70):  # in one read, and sent bit by bit
        with open_socket(guarded.port) as sock:
            head = b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n" + filler * 70
            step = len(head) // pieces + 1
            for start in range(0, len(head), step):
                sock.sendall(head[start:start + step])
            if pieces == 1:
                sock.sendall(b"\r\n")
            status, _, body = http_answer(read_until_closed(sock))
            assert status == 400
            assert "larger than 65536 bytes" in json.loads(body)["error"]["message"]
    chat(guarded)
