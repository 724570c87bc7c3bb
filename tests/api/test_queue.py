"""Queueing, cancellation and a free event loop, through a real server with one slot and a
1-request queue."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness.qwenchat import ServerProcess

LONG = {"model": "qwen-plus", "max_tokens": 4000, "logit_bias": {"2": -100},
        "messages": [{"role": "user", "content": "Write a very long story about a dragon."}]}


@pytest.fixture(scope="module")
def small_queue(starter_model: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("queue")
    env = {**os.environ, "QWENCHAT_MAX_QUEUE": "1", "QWENCHAT_SLOTS": "1"}
    with ServerProcess(["--model", str(starter_model), "--threads", "1"], home,
                       home / "server.log", env) as proc:
        yield proc


def wait_for(proc: ServerProcess, running: int, waiting: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        health = httpx.get(f"{proc.url}/health").json()
        if (health["running"], health["waiting"]) == (running, waiting):
            return
        assert time.monotonic() < deadline, health
        time.sleep(0.02)


def test_full_queue_answers_503_with_retry_after(small_queue: ServerProcess) -> None:
    url = f"{small_queue.url}/v1/chat/completions"
    with httpx.stream("POST", url, json={**LONG, "stream": True}, timeout=60) as first:
        next(first.iter_lines())  # generating now
        second_done = threading.Event()
        second_status: list[int] = []

        def second() -> None:
            reply = httpx.post(url, json={**LONG, "max_tokens": 3}, timeout=120)
            second_status.append(reply.status_code)
            second_done.set()

        threading.Thread(target=second, daemon=True).start()
        wait_for(small_queue, running=1, waiting=1)
        third = httpx.post(url, json=LONG, timeout=60)
        assert third.status_code == 503
        assert third.json()["error"]["code"] == "ModelServingError"
        assert int(third.headers["retry-after"]) >= 1
        # the event loop stays free while the engine works: health answers at once
        started = time.monotonic()
        assert httpx.get(f"{small_queue.url}/health", timeout=2).status_code == 200
        assert time.monotonic() - started < 2
    # closing the first stream cancels it; the queued request then runs to its end
    assert second_done.wait(60)
    assert second_status == [200]
    wait_for(small_queue, running=0, waiting=0)


def test_non_stream_client_that_leaves_stops_its_generation(small_queue: ServerProcess) -> None:
    url = f"{small_queue.url}/v1/chat/completions"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=LONG, timeout=httpx.Timeout(60, read=1.0))
    wait_for(small_queue, running=0, waiting=0, timeout=10)
