"""Hostile requests against a real server: each is a 2xx or a DashScope 4xx, and after each
the process is alive and ``/health`` is 200.

The named cases are the ones that used to end the process (inside llama.cpp) or answer a
500; the property test draws bodies from ``tests/api/hostile.py`` (a bounded, derandomized
sample here; ``bench/fuzz.py`` runs the long one).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from harness.qwenchat import ServerProcess
from hypothesis import HealthCheck, given, settings
from tests.api.hostile import USER, bodies, check_answer

CHAT = "/compatible-mode/v1/chat/completions"


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


def post(http: httpx.Client, body: bytes | dict[str, Any]) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.post(CHAT, content=content, headers={"content-type": "application/json"})


def assert_alive(server: ServerProcess, http: httpx.Client) -> None:
    assert server.process.poll() is None, server.log_text()[-3000:]
    assert http.get("/health").status_code == 200


def deep_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth // 2):
        schema = {"type": "array", "items": schema}
    return schema


def request(**fields: Any) -> dict[str, Any]:
    return {"model": "qwen-plus", "messages": [USER], "max_tokens": 8, **fields}


SCHEMA_MAX_LENGTH = {"type": "json_schema", "json_schema": {"name": "r", "schema": {
    "type": "object", "properties": {"a": {"type": "string", "maxLength": 100000}},
    "required": ["a"]}}}

# (name, body, expected status, a part of the message)
CASES: list[tuple[str, bytes | dict[str, Any], int, str]] = [
    ("stop token id outside the vocabulary", request(stop=[[99999999]]), 400,
     "not in the model's vocabulary"),
    ("logit_bias token id outside the vocabulary", request(logit_bias={"99999999": 5}), 400,
     "not in the model's vocabulary"),
    ("json_schema with a large maxLength", request(response_format=SCHEMA_MAX_LENGTH), 200, ""),
    ("grammar that can match nothing", request(grammar='root ::= "\\u0000"'), 400,
     "grammar cannot be enforced"),
    ("left-recursive grammar", request(grammar='root ::= root "a"'), 400,
     "grammar"),
    ("body nested 50,000 deep", b'{"model":"qwen-plus","x":' + b"[" * 50_000 + b"]" * 50_000
     + b"}", 400, "nest at most 64 levels"),
    ("unknown field nested 900 deep", b'{"model":"qwen-plus","messages":[],"x":'
     + b'{"a":' * 900 + b"1" + b"}" * 901, 400, "nest at most 64"),
    ("logit_bias key of 5,000 digits", request(logit_bias={"9" * 5000: 1}), 400, "logit_bias"),
    ("50,000 stop strings", request(stop=[f"s{i}" for i in range(50_000)]), 400, "at most 4"),
    ("tool schema nested 40 deep", request(
        tools=[{"type": "function", "function": {"name": "f", "parameters": deep_schema(80)}}],
        tool_choice="required"), 400, "nested too deeply"),
    ("repetition penalty of 1e308", request(repetition_penalty=1e308), 200, ""),
]


@pytest.mark.parametrize(("name", "body", "status", "message"), CASES,
                         ids=[case[0] for case in CASES])
def test_requests_that_used_to_kill_the_server(server: ServerProcess, http: httpx.Client,
                                               name: str, body: bytes | dict[str, Any],
                                               status: int, message: str) -> None:
    response = post(http, body)
    assert response.status_code == status, response.text[:500]
    check_answer(response)
    if status >= 400:
        assert message in response.json()["error"]["message"]
    assert_alive(server, http)


def test_a_grammar_dead_end_mid_stream_is_an_in_band_error(server: ServerProcess,
                                                            http: httpx.Client) -> None:
    body = request(grammar='root ::= root "a"', stream=True)
    with http.stream("POST", CHAT, json=body) as response:
        assert response.status_code == 200
        frames = [line for line in response.iter_lines() if line.startswith("data: ")]
    error = json.loads(frames[-1].removeprefix("data: "))["error"]
    assert error["code"] == "invalid_parameter_error" and "grammar" in error["message"]
    assert_alive(server, http)


@settings(max_examples=120, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(body=bodies())
def test_no_body_gets_a_5xx_or_takes_the_server_down(server: ServerProcess,
                                                      http: httpx.Client, body: bytes) -> None:
    check_answer(post(http, body))
    assert_alive(server, http)
