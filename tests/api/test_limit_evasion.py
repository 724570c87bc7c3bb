"""Limits that cannot be dodged, through real servers and real HTTP: an alias counts against
the id it names, a key-wide budget spans model ids, tokens are reserved at admission (prompt
+ max_tokens) so concurrent requests cannot overshoot and the unused part comes back, a
request refused after admission (queue full) gets its charge back, a key's requests in
flight are capped, and a quota holds across a Redis restarted empty."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from harness.qwenchat import ServerProcess, create_key, sdk
from harness.services import RedisServer

ASK = {"model": "qwen-plus", "max_tokens": 3,
       "messages": [{"role": "user", "content": "Say hi."}]}
# generates until told to stop: never ends by itself within a test
LONG = {**ASK, "max_tokens": 1000, "stream": True, "logit_bias": {"2": -100}}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("evasion")
    (home / "qwenchat.toml").write_text(
        '[engine]\nslots = 1\nmax_queue = 1\n[aliases]\nfast = "qwen-plus"\n')
    return home


@pytest.fixture(scope="module")
def strict(starter_model: Path, home: Path) -> Iterator[ServerProcess]:
    """One slot and a one-request queue, so a few held streams fill them."""
    with ServerProcess(["--model", str(starter_model), "--threads", "1",
                        "--config", str(home / "qwenchat.toml")], home,
                       home / "server.log") as proc:
        yield proc


def post(url: str, secret: str, **changes: Any) -> httpx.Response:
    return httpx.post(f"{url}/compatible-mode/v1/chat/completions", json={**ASK, **changes},
                      headers={"Authorization": f"Bearer {secret}"}, timeout=120)


@contextmanager
def held_stream(url: str, secret: str, **changes: Any) -> Iterator[Iterator[str]]:
    """A streamed request that is generating (its first chunk read) until the block ends;
    leaving the block closes it, which cancels the generation. The block gets the rest of
    its lines (kept referenced: a line iterator dropped early may close the stream)."""
    with httpx.stream("POST", f"{url}/compatible-mode/v1/chat/completions",
                      json={**LONG, **changes}, timeout=120,
                      headers={"Authorization": f"Bearer {secret}"}) as reply:
        assert reply.status_code == 200, reply.read()
        lines = reply.iter_lines()
        next(lines)
        yield lines


def refused_with(reply: httpx.Response, code: str) -> float:
    """Check a 429 with ``code`` and a Retry-After; the wait it asks for, in seconds."""
    assert reply.status_code == 429, reply.text
    assert reply.json()["error"]["code"] == code
    assert int(reply.headers["retry-after"]) >= 1
    return int(reply.headers["retry-after-ms"]) / 1000


def wait_idle(proc: ServerProcess, timeout: float = 30) -> None:
    """Until the engine runs and queues nothing (held streams closed and cancelled)."""
    deadline = time.monotonic() + timeout
    while True:
        health = httpx.get(f"{proc.url}/health").json()
        if (health["running"], health["waiting"]) == (0, 0):
            return
        assert time.monotonic() < deadline, health
        time.sleep(0.05)


def test_an_alias_counts_against_the_id_it_names(strict: ServerProcess, home: Path) -> None:
    secret = create_key(home, "alias", "--rpm", "1")
    with sdk(strict.url, api_key=secret) as client:
        reply = client.chat.completions.create(**{**ASK, "model": "fast"})  # type: ignore
        assert reply.model == "fast"
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(**ASK)  # type: ignore[call-overload]
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "limit_requests"


def test_a_key_wide_budget_spans_every_model_id(strict: ServerProcess, home: Path) -> None:
    secret = create_key(home, "total", "--rpm", "100", "--total-rpm", "1")
    assert post(strict.url, secret, model="qwen-plus").status_code == 200
    refused_with(post(strict.url, secret, model="qwen-turbo"), "limit_requests")
    refused_with(post(strict.url, secret, model="fast"), "limit_requests")


def test_tokens_are_reserved_at_admission_and_the_unused_part_comes_back(
        strict: ServerProcess, home: Path) -> None:
    # 1000 tokens may be generated: reserved, they fill the minute's 600 at once
    secret = create_key(home, "reserve", "--tpm", "600")
    with held_stream(strict.url, secret):
        wait = refused_with(post(strict.url, secret), "insufficient_quota")
        assert wait > 30  # the minute window is full, not just the second's share
    wait_idle(strict)
    deadline = time.monotonic() + 30
    while True:  # the abandoned stream is settled to what it generated: far under 600
        reply = post(strict.url, secret)
        if reply.status_code == 200:
            break
        wait = refused_with(reply, "insufficient_quota")
        assert wait <= 1.1, "the unused reservation was not given back"
        assert time.monotonic() < deadline
        time.sleep(wait)


def test_a_request_refused_when_the_queue_is_full_gets_its_charge_back(
        strict: ServerProcess, home: Path) -> None:
    holder, limited = create_key(home, "holder"), create_key(home, "refused", "--rpm", "1")
    with held_stream(strict.url, holder), held_stream_queued(strict, holder):
        full = post(strict.url, limited)
        assert full.status_code == 503, full.text
        assert full.json()["error"]["code"] == "ModelServingError"
    wait_idle(strict)
    assert post(strict.url, limited).status_code == 200  # rpm 1: the 503 was not counted


@contextmanager
def held_stream_queued(proc: ServerProcess, secret: str) -> Iterator[None]:
    """A second held stream, waiting in the (one-request) queue until the block ends."""
    client = httpx.Client(timeout=120)
    request = client.build_request("POST", f"{proc.url}/compatible-mode/v1/chat/completions",
                                   json=LONG, headers={"Authorization": f"Bearer {secret}"})
    reply = client.send(request, stream=True)
    try:
        assert reply.status_code == 200
        deadline = time.monotonic() + 30
        while httpx.get(f"{proc.url}/health").json()["waiting"] != 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        yield
    finally:
        reply.close()
        client.close()


def test_a_key_cannot_hold_more_requests_open_than_its_cap(strict: ServerProcess,
                                                           home: Path) -> None:
    secret = create_key(home, "capped", "--max-in-flight", "1")
    with held_stream(strict.url, secret):
        refused = post(strict.url, secret)
        refused_with(refused, "limit_requests")
        assert "in flight" in refused.json()["error"]["message"]
    deadline = time.monotonic() + 30
    while (reply := post(strict.url, secret)).status_code != 200:  # let go once it ended
        refused_with(reply, "limit_requests")
        assert time.monotonic() < deadline, "the closed stream still counts as in flight"
        time.sleep(0.05)


def test_a_quota_holds_across_a_redis_restarted_empty(starter_model: Path,
                                                      tmp_path: Path) -> None:
    secret = create_key(tmp_path, "quota", "--quota-tokens", "30")
    with RedisServer() as store:
        env = {**os.environ, "QWENCHAT_REDIS_URL": store.url}
        with ServerProcess(["--model", str(starter_model), "--threads", "1"], tmp_path,
                           tmp_path / "server.log", env) as proc:
            used = 0
            while used < 30:
                reply = post(proc.url, secret)
                assert reply.status_code == 200, reply.text
                used += reply.json()["usage"]["total_tokens"]
            refused_with_no_retry(post(proc.url, secret))
            store.restart_empty()
            deadline = time.monotonic() + 30
            while (reply := post(proc.url, secret)).status_code == 503:  # reconnecting
                assert time.monotonic() < deadline, reply.text
                time.sleep(0.1)
            refused_with_no_retry(reply)


def refused_with_no_retry(reply: httpx.Response) -> None:
    """A spent quota: 429 ``insufficient_quota`` and no Retry-After (waiting will not help)."""
    assert reply.status_code == 429, reply.text
    assert reply.json()["error"]["code"] == "insufficient_quota"
    assert "retry-after" not in reply.headers
