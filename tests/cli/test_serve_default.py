"""`qwenchat serve` with no --model: the best pulled Qwen model, else the starter."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness.qwenchat import ServerProcess
from tests.catalog.fake_hf_hub import FakeHub, call, hub_env, run_python, serving

from qwenchat.catalog import QWEN_FILES

SMALL = QWEN_FILES["qwen3-0.6b"]


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with serving("qwen3-0.6b") as fake:
        yield fake


def test_with_nothing_pulled_serve_fetches_the_starter_saying_so(tmp_path: Path,
                                                                 hub: FakeHub) -> None:
    env = hub_env(hub.url, tmp_path / "hf", tmp_path / "home")
    proc = ServerProcess(["--threads", "1"], tmp_path / "home", tmp_path / "server.log", env)
    try:
        proc.wait_ready()
        card = httpx.get(f"{proc.url}/v1/models/qwen3.6-plus").json()
    finally:
        proc.stop()
    assert card["root"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "Fetching the starter model on first use" in proc.log_text()
    assert (tmp_path / "home" / "models" / card["root"]).is_file()


def test_a_pulled_qwen_model_is_preferred_over_the_starter(tmp_path: Path,
                                                           hub: FakeHub) -> None:
    env = hub_env(hub.url, tmp_path / "hf", tmp_path / "home")
    pulled = Path(run_python(call("pull_qwen('qwen3-0.6b', home, say=say)"), env)["path"])
    proc = ServerProcess(["--threads", "1"], tmp_path / "home", tmp_path / "server.log", env)
    try:
        # the fake hub's GGUF has no weights: the server stays up and says why it is not ready
        deadline = time.monotonic() + 60
        while True:
            health = httpx.get(f"{proc.url}/health", timeout=5) if _listening(proc) else None
            if health is not None and health.json()["status"] == "error":
                break
            assert time.monotonic() < deadline, proc.log_text()
            time.sleep(0.1)
        assert health.status_code == 503
        chat = httpx.post(f"{proc.url}/v1/chat/completions", json={
            "model": "qwen-plus", "messages": [{"role": "user", "content": "Hi"}]})
        assert chat.status_code == 503
        assert chat.json()["error"]["code"] == "ModelUnavailable"
    finally:
        proc.stop()
    assert f"serving 15 model ids from {pulled}" in proc.log_text()
    assert "Fetching the starter" not in proc.log_text()


def _listening(proc: ServerProcess) -> bool:
    try:
        httpx.get(f"{proc.url}/health", timeout=1)
    except httpx.HTTPError:
        return False
    return True
