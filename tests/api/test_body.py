"""A chat request's body through a real server (1 MiB cap, 2 s to arrive, keys required):
refused past the cap whether declared or streamed, refused when it trickles, never read for
a request without a valid key, and parsed whole when large but under the cap."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from harness.qwenchat import ServerProcess, create_key, sdk
from sqlalchemy import create_engine, select
from tests.support import http_answer, open_socket, read_answer, read_until_closed

from qwenchat.gateway.tables import usage

CAP = 1024 * 1024
LIMIT_MESSAGE = f"Exceeded limit on max bytes to request body : {CAP}"
ASK = {"model": "qwen-plus", "max_tokens": 3,
       "messages": [{"role": "user", "content": "Say hi."}]}


@pytest.fixture(scope="module")
def keyed(starter_model: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    home = tmp_path_factory.mktemp("body")
    secret = create_key(home, "body")
    env = {**os.environ, "QWENCHAT_MAX_BODY_MB": "1", "QWENCHAT_BODY_TIMEOUT": "2"}
    with ServerProcess(["--model", str(starter_model), "--threads", "1"], home,
                       home / "server.log", env) as proc:
        yield proc, secret


def post_head(secret: str, **headers: str) -> bytes:
    lines = ["POST /v1/chat/completions HTTP/1.1", "Host: 127.0.0.1",
             f"Authorization: Bearer {secret}", "Content-Type: application/json",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def assert_refused(raw: bytes, message: str) -> None:
    status, headers, body = http_answer(raw)
    assert status == 400, raw[:500]
    assert headers["connection"] == "close"
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_parameter_error"
    assert message in error["message"]


def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_read(
        keyed: tuple[ServerProcess, str]) -> None:
    server, secret = keyed
    with open_socket(server.port) as sock:
        sock.sendall(post_head(secret, Content_Length=str(CAP + 1)))  # and no body at all
        assert_refused(read_until_closed(sock), LIMIT_MESSAGE)


def test_a_streamed_body_is_refused_once_it_passes_the_cap(
        keyed: tuple[ServerProcess, str]) -> None:
    server, secret = keyed
    chunk = b"x" * 65536
    with open_socket(server.port) as sock:
        sock.sendall(post_head(secret, Transfer_Encoding="chunked"))
        for _ in range(CAP // len(chunk) + 1):  # one chunk past the cap, never the end
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        assert_refused(read_until_closed(sock), LIMIT_MESSAGE)


def test_the_sdk_gets_the_400_for_a_body_over_the_cap(keyed: tuple[ServerProcess, str]) -> None:
    server, secret = keyed
    with sdk(server.url, secret) as client, pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="qwen-plus", max_tokens=3, messages=[
            {"role": "user", "content": "x" * (2 * CAP)}])
    assert LIMIT_MESSAGE in str(refused.value)


def test_a_body_that_trickles_is_refused_and_its_connection_closed(
        keyed: tuple[ServerProcess, str]) -> None:
    server, secret = keyed
    with open_socket(server.port) as sock:
        sock.sendall(post_head(secret, Content_Length="1000") + b'{"model": ')
        assert_refused(read_until_closed(sock), "did not arrive within 2 seconds")


def test_a_request_without_a_valid_key_is_answered_without_reading_its_body(
        keyed: tuple[ServerProcess, str]) -> None:
    server, _ = keyed
    with open_socket(server.port) as sock:
        sock.sendall(post_head("sk-wrong", Content_Length="5000"))  # the body never comes
        status, _, body = http_answer(read_answer(sock))
    assert status == 401
    assert json.loads(body)["error"]["code"] == "invalid_api_key"


def test_a_large_body_under_the_cap_is_parsed_and_answered(
        keyed: tuple[ServerProcess, str]) -> None:
    server, secret = keyed
    # a large field the protocol ignores: the body is parsed whole, off the event loop
    body = {**ASK, "metadata": {"notes": "n" * (CAP - 10_000)}}
    reply = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=60,
                       headers={"Authorization": f"Bearer {secret}"})
    assert reply.status_code == 200, reply.text
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_a_client_that_leaves_mid_body_is_recorded_as_gone(
        keyed: tuple[ServerProcess, str]) -> None:
    server, secret = keyed
    with open_socket(server.port) as sock:
        sock.sendall(post_head(secret, Content_Length="1000") + b'{"model": ')
    database = create_engine(f"sqlite:///{server.log_path.parent / 'qwenchat.db'}")
    deadline = time.monotonic() + 30
    while True:
        with database.connect() as connection:
            statuses = [row.status for row in connection.execute(select(usage))]
        if 499 in statuses:
            break
        assert time.monotonic() < deadline, statuses
        time.sleep(0.2)
    database.dispose()
    assert "unexpected failure" not in server.log_text()
    assert httpx.get(f"{server.url}/health").status_code == 200
