"""Retries against a scripted local HTTP server: what is retried, how long it waits, and when
it gives up. The retry policy itself is also tested as pure arithmetic."""

from __future__ import annotations

import itertools
import random
from email.utils import formatdate

import pytest
from harness.process import free_port
from tests.client.scripted_server import Answer, ScriptedServer, chunks, completion, error

from qwenchat.client import ChatClient, ClientError, Connection, RetryPolicy
from qwenchat.client._retry import retry_after_seconds

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=5)
REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _client(url: str, retries: list[tuple[int, float, str]] | None = None,
            policy: RetryPolicy = FAST) -> ChatClient:
    on_retry = None if retries is None else (lambda *event: retries.append(event))
    return ChatClient(Connection(url, "sk-test", None), retry=policy, timeout=10,
                      on_retry=on_retry)


def test_429_and_503_honour_retry_after_then_succeed() -> None:
    answers = [error(429, "limit_requests", "Requests rate limit exceeded, please try again "
                     "later.", **{"Retry-After": "1"}),
               error(503, "ModelServingError", "Too many requests.", **{"Retry-After": "1"}),
               Answer(body=completion("Hello!"))]
    retries: list[tuple[int, float, str]] = []
    with ScriptedServer(answers) as server, _client(server.url, retries) as client:
        response = client.complete(REQUEST)
    assert response["choices"][0]["message"]["content"] == "Hello!"
    assert len(server.seen) == 3
    times = [seen.at for seen in server.seen]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    assert [(attempt, delay >= 1.0) for attempt, delay, _ in retries] == [(1, True), (2, True)]
    assert "429" in retries[0][2] and "rate limit" in retries[0][2]


def test_stream_is_retried_before_any_output() -> None:
    answers = [error(503, "ModelServingError", "busy", **{"Retry-After": "0"}),
               Answer(frames=chunks("Hel", "lo"))]
    seen: list[str] = []
    with ScriptedServer(answers) as server, _client(server.url) as client:
        response = client.complete(REQUEST, stream=True, on_content=seen.append)
    assert seen == ["Hel", "lo"]
    assert response["choices"][0]["message"]["content"] == "Hello"
    assert response["usage"]["total_tokens"] == 5
    assert server.seen[-1].body["stream"] is True
    assert server.seen[-1].body["stream_options"] == {"include_usage": True}


def test_gives_up_after_max_attempts() -> None:
    answers = [error(429, "limit_requests", "Requests rate limit exceeded.")]
    with ScriptedServer(answers) as server, _client(server.url) as client, \
            pytest.raises(ClientError) as caught:
        client.complete(REQUEST)
    assert len(server.seen) == 3
    failure = caught.value
    assert (failure.exit_code, failure.status, failure.code) == (3, 429, "limit_requests")
    assert "rate limited; retried 2 times" in failure.message


def test_retry_after_longer_than_max_delay_gives_up_at_once() -> None:
    answers = [error(429, "limit_requests", "slow down", **{"Retry-After": "60"})]
    with ScriptedServer(answers) as server, _client(server.url) as client, \
            pytest.raises(ClientError, match="retry after 60s") as caught:
        client.complete(REQUEST)
    assert len(server.seen) == 1 and caught.value.exit_code == 3


def test_a_stream_that_broke_after_output_is_not_retried() -> None:
    answers = [Answer(frames=chunks("partial", "never"), cut_after=2),
               Answer(frames=chunks("second answer"))]
    seen: list[str] = []
    with ScriptedServer(answers) as server, _client(server.url) as client, \
            pytest.raises(ClientError, match="not retried") as caught:
        client.complete(REQUEST, stream=True, on_content=seen.append)
    assert len(server.seen) == 1
    assert seen == ["partial"]
    assert caught.value.exit_code == 4


def test_an_error_frame_after_output_is_not_retried() -> None:
    frames = [*chunks("partial")[:2],
              {"error": {"message": "engine crashed", "code": "internal_error"}}]
    with ScriptedServer([Answer(frames=frames)]) as server, _client(server.url) as client, \
            pytest.raises(ClientError, match="engine crashed") as caught:
        client.complete(REQUEST, stream=True)
    assert len(server.seen) == 1
    assert (caught.value.exit_code, caught.value.code) == (3, "internal_error")


def test_an_error_frame_before_output_is_retried_when_the_server_was_busy() -> None:
    busy = Answer(frames=[chunks()[0], {"error": {"message": "busy",
                                                  "code": "ModelServingError"}}])
    with ScriptedServer([busy, Answer(frames=chunks("ok"))]) as server, \
            _client(server.url) as client:
        response = client.complete(REQUEST, stream=True)
    assert len(server.seen) == 2 and response["choices"][0]["message"]["content"] == "ok"


def test_connection_refused_is_exit_code_4_after_retries() -> None:
    retries: list[tuple[int, float, str]] = []
    url = f"http://127.0.0.1:{free_port()}/compatible-mode/v1"
    with _client(url, retries) as client, pytest.raises(ClientError) as caught:
        client.complete(REQUEST)
    assert caught.value.exit_code == 4
    assert "retried 2 times" in caught.value.message and url in caught.value.message
    assert [attempt for attempt, _, _ in retries] == [1, 2]


@pytest.mark.parametrize(("answer", "words"), [
    (error(401, "invalid_api_key", "Incorrect API key provided."),
     ["Incorrect API key", "region", "QWEN_REGION"]),
    (error(404, "model_not_found", "The model `m` does not exist or you do not have access "
           "to it."), ["does not exist", "qwenchat models list", "/models"]),
    (error(400, "invalid_parameter_error", "Range of top_p should be (0.0, 1.0]"),
     ["Range of top_p"]),
    (error(403, "access_denied", "Access denied."), ["`m`"]),
])
def test_client_errors_are_final_and_actionable(answer: Answer, words: list[str]) -> None:
    with ScriptedServer([answer]) as server, _client(server.url) as client, \
            pytest.raises(ClientError) as caught:
        client.complete(REQUEST)
    assert len(server.seen) == 1
    assert caught.value.exit_code == 3 and caught.value.status == answer.status
    for word in words:
        assert word in caught.value.message


def test_list_models_is_retried_too() -> None:
    models = {"object": "list", "data": [{"id": "qwen-plus", "object": "model", "created": 0,
                                          "owned_by": "qwenchat"}]}
    answers = [error(503, "ModelUnavailable", "down"), Answer(body=models)]
    with ScriptedServer(answers) as server, _client(server.url) as client:
        assert client.list_models() == ["qwen-plus"]
    assert [seen.path for seen in server.seen] == ["/compatible-mode/v1/models"] * 2


def test_backoff_is_jittered_exponential_and_capped() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=3)
    rng = random.Random(1)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (8, 3.0)]:
        delays = [policy.backoff(retry, rng) for _ in range(200)]
        assert all(0 <= delay <= ceiling for delay in delays)
        assert max(delays) > ceiling * 0.8
    assert policy.delay(10, None) is None
    assert policy.delay(1, 2.5, rng) == 2.5  # never earlier than the server asked
    assert policy.delay(1, 3.5, rng) is None  # longer than max_delay: give up


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "soon"}) is None
    date = formatdate(1_000_030, usegmt=True)
    assert retry_after_seconds({"retry-after": date}, now=1_000_000) == 30.0
