"""What the app shows and to whom: beyond loopback ``/metrics`` and ``/health``'s details
need the admin key; replica URLs never show their credentials (``/health``, ``/metrics``,
logs, ``--print-config``); ``/docs`` and ``/openapi.json`` exist only when switched on."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness.process import free_port
from harness.qwenchat import ServerProcess, create_key, run_cli

ADMIN = "admin-secret-for-tests"
PASSWORD = "replica-password"


def public_server(home: Path, *args: str, admin: str = "") -> ServerProcess:
    """A model-less server on 0.0.0.0 (keys required) with one unreachable replica whose
    URL carries credentials."""
    config = home / "qwenchat.toml"
    config.write_text(f'''[engine]
model = "none"
[deployments.up]
replicas = ["http://user:{PASSWORD}@127.0.0.1:{free_port()}/v1"]
connect_timeout = 1
[deployments.up.models]
"qwen-plus" = "m"
''')
    env = {**os.environ, "QWENCHAT_ADMIN_KEY": admin}
    return ServerProcess(["--host", "0.0.0.0", "--config", str(config), *args], home,
                         home / "server.log", env)


@pytest.fixture(scope="module")
def public(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("public")
    with public_server(home, "--docs", admin=ADMIN) as proc:
        yield proc


def test_health_beyond_loopback_is_bare_without_the_admin_key(public: ServerProcess) -> None:
    bare = httpx.get(f"{public.url}/health")
    assert bare.status_code == 200
    assert bare.json() == {"status": "ok"}
    detailed = httpx.get(f"{public.url}/health", headers={"Authorization": f"Bearer {ADMIN}"})
    assert detailed.status_code == 200
    replicas = detailed.json()["upstreams"]["up"]
    assert replicas[0]["url"].startswith("http://***@127.0.0.1:")
    assert PASSWORD not in detailed.text


def test_metrics_beyond_loopback_need_the_admin_key(public: ServerProcess) -> None:
    home = public.log_path.parent
    chat_key = create_key(home, "chat")
    for headers in ({}, {"Authorization": f"Bearer {chat_key}"}):
        refused = httpx.get(f"{public.url}/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"
    scraped = httpx.get(f"{public.url}/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
    assert scraped.status_code == 200
    assert 'replica="http://***@127.0.0.1:' in scraped.text
    assert PASSWORD not in scraped.text


def test_no_admin_key_beyond_loopback_means_no_metrics_and_no_details(tmp_path: Path) -> None:
    with public_server(tmp_path) as proc:
        assert httpx.get(f"{proc.url}/metrics").status_code == 401
        assert httpx.get(f"{proc.url}/health").json() == {"status": "ok"}


def test_replica_credentials_stay_out_of_logs_and_print_config(public: ServerProcess) -> None:
    secret = create_key(public.log_path.parent, "logs")
    deadline = time.monotonic() + 30
    while (reply := httpx.post(f"{public.url}/v1/chat/completions", timeout=30,
                               headers={"Authorization": f"Bearer {secret}"},
                               json={"model": "qwen-plus", "messages": [
                                   {"role": "user", "content": "Hi"}]})).status_code == 401:
        assert time.monotonic() < deadline  # the server's key cache
        time.sleep(0.2)
    assert reply.status_code == 503  # the replica is unreachable: tried, and logged
    while "is down" not in public.log_text():  # the first health check fails
        assert time.monotonic() < deadline, public.log_text()
        time.sleep(0.2)
    assert "http://***@127.0.0.1:" in public.log_text()
    assert PASSWORD not in public.log_text()
    home = public.log_path.parent
    printed = run_cli(home, "serve", "--config", str(home / "qwenchat.toml"),
                      "--print-config").stdout
    assert "replicas = [\"http://***@127.0.0.1:" in printed
    assert PASSWORD not in printed


def test_the_openapi_pages_exist_only_when_switched_on(public: ServerProcess,
                                                      server: ServerProcess) -> None:
    assert httpx.get(f"{public.url}/docs").status_code == 200
    assert httpx.get(f"{public.url}/openapi.json").json()["info"]["title"] == "qwenchat"
    for path in ("/docs", "/openapi.json"):
        missing = httpx.get(f"{server.url}{path}")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "NotFound"


def test_health_on_loopback_keeps_its_details(server: ServerProcess) -> None:
    assert "engines" in httpx.get(f"{server.url}/health").json()
