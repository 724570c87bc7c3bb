"""The engine watchdog through a real server, with faults injected by ``QWENCHAT_FAULT``:
an engine thread that dies is replaced and the server serves on; one that hangs in a step
fails every request with 503, turns ``/health`` 503 and makes the process exit with 70."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path

import httpx
from harness.qwenchat import ServerProcess

CHAT = "/compatible-mode/v1/chat/completions"
BODY = {"model": "qwen-plus", "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 8}


def serve(starter_model: Path, tmp_path: Path, fault: str) -> ServerProcess:
    env = {**os.environ, "QWENCHAT_FAULT": fault, "QWENCHAT_STALL_TIMEOUT": "1"}
    return ServerProcess(["--model", str(starter_model), "--threads", "1"], tmp_path,
                         tmp_path / "server.log", env=env)


def test_a_dead_engine_thread_is_replaced(starter_model: Path, tmp_path: Path) -> None:
    with serve(starter_model, tmp_path, "engine-die") as server, \
            httpx.Client(base_url=server.url, timeout=60) as http:
        failed = http.post(CHAT, json=BODY)
        assert failed.status_code == 503
        assert failed.json()["error"]["code"] == "ModelUnavailable"
        served = http.post(CHAT, json=BODY)
        assert served.status_code == 200, served.text
        assert served.json()["choices"][0]["message"]["content"] is not None
        assert http.get("/health").status_code == 200
        assert server.process.poll() is None
        assert "the engine thread died" in server.log_text()


def test_a_stalled_engine_fails_everything_and_the_process_exits_70(
        starter_model: Path, tmp_path: Path) -> None:
    server = serve(starter_model, tmp_path, "engine-hang")
    with server, httpx.Client(base_url=server.url, timeout=60) as http:
        frames: list[str] = []

        def stream() -> None:
            with http.stream("POST", CHAT, json={**BODY, "stream": True}) as response:
                frames.extend(line for line in response.iter_lines() if line)

        streaming = threading.Thread(target=stream)
        streaming.start()
        waiting = http.post(CHAT, json=BODY)  # queued behind the hung step
        assert waiting.status_code == 503, waiting.text
        assert waiting.json()["error"]["code"] == "ModelUnavailable"
        streaming.join(60)
        error = json.loads(frames[-1].removeprefix("data: "))["error"]
        assert error["code"] == "ModelUnavailable"
        deadline = time.monotonic() + 60
        while server.process.poll() is None:
            assert time.monotonic() < deadline, server.log_text()[-2000:]
            with contextlib.suppress(httpx.TransportError):  # while it shuts down, /health
                assert http.get("/health").status_code == 503  # says why
            time.sleep(0.2)
        assert server.process.returncode == 70, server.log_text()[-2000:]
        assert "stalled" in server.log_text()

