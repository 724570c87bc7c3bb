"""Server lifecycle through real HTTP: loading, unexpected failures, signals."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from harness.process import free_port
from harness.qwenchat import ServerProcess

from qwenchat.api import create_app
from qwenchat.catalog import Catalog
from qwenchat.gateway import Gateway
from qwenchat.service import Admit, ChatService, LocalBackend, LocalChat, RoutedChat
from qwenchat.settings import Settings

ASK = {"model": "qwen-plus", "max_tokens": 5,
       "messages": [{"role": "user", "content": "What is the capital of France?"}]}


class GatedBackend(LocalBackend):
    """Loads only once the test opens the gate."""

    def __init__(self, catalog: Catalog, settings: Settings, gate: threading.Event) -> None:
        super().__init__(catalog, settings.engine)
        self.gate = gate

    def load(self) -> None:
        self.gate.wait(60)
        super().load()


class FailsOnce(LocalBackend):
    """Raises an unexpected error on its first request."""

    failed = False

    async def open(self, chat: RoutedChat, admit: Admit) -> LocalChat:
        if not self.failed:
            self.failed = True
            raise RuntimeError("secret internal detail")
        return await super().open(chat, admit)


@pytest.fixture
def settings(starter_model: Path, tmp_path: Path) -> Settings:
    return Settings.load(env={"QWENCHAT_HOME": str(tmp_path)}).with_overrides(
        engine={"model": str(starter_model), "threads": 1})


@contextmanager
def running(service: ChatService, settings: Settings) -> Iterator[str]:
    """``service`` behind a real uvicorn server in a thread; yields its base URL."""
    port = free_port()
    app = create_app(service, Gateway.open(settings))
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(30)


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/health").status_code != 200:
        assert time.monotonic() < deadline, "never became healthy"
        time.sleep(0.05)


def test_health_is_503_until_the_model_has_loaded(settings: Settings) -> None:
    gate = threading.Event()
    catalog = Catalog.build(settings, say=print)
    with running(ChatService(catalog, [GatedBackend(catalog, settings, gate)]), settings) as url:
        loading = httpx.get(f"{url}/health")
        assert loading.status_code == 503
        assert loading.json()["status"] == "loading"
        early = httpx.post(f"{url}/v1/chat/completions", json=ASK)
        assert early.status_code == 503
        assert early.json()["error"]["code"] == "ModelUnavailable"
        assert early.headers["retry-after"]
        gate.set()
        wait_healthy(url)
        assert httpx.post(f"{url}/v1/chat/completions", json=ASK, timeout=60).status_code == 200


def test_unexpected_failure_is_a_500_and_the_server_keeps_serving(settings: Settings) -> None:
    catalog = Catalog.build(settings, say=print)
    service = ChatService(catalog, [FailsOnce(catalog, settings.engine)])
    with running(service, settings) as url:
        wait_healthy(url)
        failed = httpx.post(f"{url}/v1/chat/completions", json=ASK)
        assert failed.status_code == 500
        error = failed.json()["error"]
        assert error["code"] == "internal_error"
        assert "secret" not in failed.text
        assert httpx.post(f"{url}/v1/chat/completions", json=ASK, timeout=60).status_code == 200


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_stream_shuts_down_cleanly(starter_model: Path, tmp_path: Path,
                                              signum: signal.Signals) -> None:
    proc = ServerProcess(["--model", str(starter_model), "--threads", "1"], tmp_path,
                         tmp_path / "server.log")
    try:
        proc.wait_ready()
        body = {**ASK, "max_tokens": 4000, "stream": True, "logit_bias": {"2": -100}}
        with httpx.stream("POST", f"{proc.url}/v1/chat/completions", json=body,
                          timeout=60) as reply:
            lines = reply.iter_lines()
            assert next(lines).startswith("data: ")
            proc.process.send_signal(signum)
            remaining = [line for line in lines if line]  # ends instead of running to 4000
        assert len(remaining) < 4000
        assert '"code":"ModelUnavailable"' in remaining[-1]
        # uvicorn re-raises the signal once shut down, so the exit status reports it
        assert proc.process.wait(timeout=30) in (0, -signum)
    finally:
        proc.stop()
    log = proc.log_text()
    assert "Traceback" not in log
    assert "Finished server process" in log
