"""A loopback server open without keys refuses what a web page of another site could send
through a browser (a form or text post, a re-pointed host name), and keeps serving the
SDK, JSON posts and every loopback name; with keys required the key alone decides."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest
from harness.process import free_port
from harness.qwenchat import ServerProcess, create_key, upstream_gateway

ASK = {"model": "qwen-plus", "max_tokens": 3,
       "messages": [{"role": "user", "content": "Say hi."}]}


@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded",  # curl -d, and an HTML form
    "text/plain", "multipart/form-data; boundary=x", None])
def test_a_post_that_is_not_json_is_refused(server: ServerProcess,
                                            content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    reply = httpx.post(f"{server.url}/v1/chat/completions", headers=headers,
                       content=httpx.Request("POST", "/", json=ASK).content)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "invalid_request_error"
    assert "Content-Type must be application/json" in error["message"]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "10.0.0.5",
                                  "127.0.0.1.evil.example"])
def test_a_request_for_another_host_name_is_refused(server: ServerProcess, host: str) -> None:
    for reply in (httpx.post(f"{server.url}/v1/chat/completions", json=ASK,
                             headers={"Host": host}),
                  httpx.get(f"{server.url}/compatible-mode/v1/models", headers={"Host": host})):
        assert reply.status_code == 403
        assert reply.json()["error"]["code"] == "access_denied"


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1", "[::1]:1234",
                                  "LOCALHOST:80"])
def test_every_loopback_name_is_served(server: ServerProcess, host: str) -> None:
    reply = httpx.post(f"{server.url}/v1/chat/completions", json=ASK, timeout=60,
                       headers={"Host": host, "Content-Type": "application/json; charset=utf-8"})
    assert reply.status_code == 200, reply.text


def test_the_sdk_is_served(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(**ASK)  # type: ignore[call-overload]
    assert reply.choices[0].message.content is not None
    assert client.models.list().data


def test_with_keys_the_key_alone_decides(tmp_path: Path) -> None:
    secret = create_key(tmp_path, "browser")
    url = f"http://127.0.0.1:{free_port()}/v1"
    with upstream_gateway(tmp_path, "openai", url, {"qwen-plus": "m"}) as gateway:
        reply = httpx.get(f"{gateway.url}/v1/models", headers={
            "Host": "qwen.internal.example", "Authorization": f"Bearer {secret}"})
        assert reply.status_code == 200
