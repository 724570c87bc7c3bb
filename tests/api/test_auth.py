"""API keys through a real server and the official SDK: auth modes, 401s, 403, rotation,
region, the admin key on /metrics."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import openai
import pytest
from harness.process import free_port
from harness.qwenchat import QWENCHAT, ServerProcess, create_key, run_cli, sdk

from qwenchat.gateway import KeyStore, open_database

ASK = {"model": "qwen-plus", "max_tokens": 3,
       "messages": [{"role": "user", "content": "Say hi."}]}
ADMIN = "admin-secret-for-tests"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("auth")


@pytest.fixture(scope="module")
def keyed(starter_model: Path, home: Path) -> Iterator[ServerProcess]:
    """A loopback server in ``auto`` mode that starts with no key at all."""
    env = {**os.environ, "QWENCHAT_ADMIN_KEY": ADMIN}
    with ServerProcess(["--model", str(starter_model), "--threads", "1"], home,
                       home / "server.log", env) as proc:
        yield proc


def ask(url: str, secret: str, model: str = "qwen-plus") -> str:
    with sdk(url, api_key=secret) as client:
        reply = client.chat.completions.create(
            model=model, max_tokens=3, messages=[{"role": "user", "content": "Say hi."}])
    return reply.choices[0].message.content or ""


def assert_401(url: str, secret: str) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        ask(url, secret)
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "invalid_api_key", body
    assert body["message"] == "Incorrect API key provided."
    assert secret not in caught.value.response.text


def after_cache() -> None:
    """Wait out the server's key cache (key_cache_seconds = 1)."""
    time.sleep(1.2)


def test_auto_mode_is_open_until_a_key_exists_then_checks_every_key(
        keyed: ServerProcess, home: Path) -> None:
    assert ask(keyed.url, "anything")  # no key exists yet: open on loopback
    secret = create_key(home, "first")
    after_cache()
    assert_401(keyed.url, "anything")
    assert_401(keyed.url, "sk-" + "x" * 43)
    assert ask(keyed.url, secret)
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": secret}):
        missing = httpx.post(f"{keyed.url}/compatible-mode/v1/chat/completions", json=ASK,
                             headers=headers)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "invalid_api_key"
        assert missing.json()["request_id"]


def test_revoked_expired_and_other_region_keys_are_refused(
        keyed: ServerProcess, home: Path) -> None:
    revoked = create_key(home, "revoked")
    other_region = create_key(home, "abroad", "--region", "intl")
    database = open_database(f"sqlite:///{home / 'qwenchat.db'}")
    try:
        expired = KeyStore(database).create(
            "expired", region="local",
            expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)).secret
    finally:
        database.dispose()
    run_cli(home, "keys", "revoke", "revoked")
    after_cache()
    for secret in (revoked, other_region, expired):
        assert_401(keyed.url, secret)


def test_rotation_replaces_the_secret_at_once(keyed: ServerProcess, home: Path) -> None:
    old = create_key(home, "rotating")
    assert ask(keyed.url, old)
    new = run_cli(home, "keys", "rotate", "rotating").stdout.strip()
    after_cache()
    assert_401(keyed.url, old)
    assert ask(keyed.url, new)


def test_a_key_limited_to_some_models_gets_403_for_others(
        keyed: ServerProcess, home: Path) -> None:
    secret = create_key(home, "turbo-only", "--models", "qwen-turbo,qwen3-max")
    assert ask(keyed.url, secret, model="qwen-turbo")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        ask(keyed.url, secret, model="qwen-plus")
    assert caught.value.status_code == 403
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "access_denied"
    with sdk(keyed.url, api_key=secret) as client:
        assert sorted(model.id for model in client.models.list()) == ["qwen-turbo", "qwen3-max"]
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("qwen-plus")


def test_model_list_needs_a_key_once_keys_are_required(keyed: ServerProcess,
                                                       home: Path) -> None:
    create_key(home, "lister")
    after_cache()
    assert httpx.get(f"{keyed.url}/compatible-mode/v1/models").status_code == 401


def test_metrics_need_the_admin_key_not_a_chat_key(keyed: ServerProcess, home: Path) -> None:
    chat_key = create_key(home, "chatter")
    url = f"{keyed.url}/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {chat_key}"}).status_code == 401
    scraped = httpx.get(url, headers={"Authorization": f"Bearer {ADMIN}"})
    assert scraped.status_code == 200
    assert "qwenchat_requests_total" in scraped.text


def test_secrets_never_reach_the_log_or_the_database(keyed: ServerProcess, home: Path) -> None:
    secret = create_key(home, "secretive")
    ask(keyed.url, secret)
    assert_401(keyed.url, secret + "x")
    assert secret not in keyed.log_text()
    for path in home.glob("qwenchat.db*"):
        assert secret.encode() not in path.read_bytes()


def test_required_mode_refuses_requests_when_no_key_exists(starter_model: Path,
                                                           tmp_path: Path) -> None:
    with ServerProcess(["--model", str(starter_model), "--threads", "1", "--auth", "required"],
                       tmp_path, tmp_path / "server.log") as proc:
        assert_401(proc.url, "anything")


def test_no_auth_on_a_public_address_is_refused_unless_forced(tmp_path: Path) -> None:
    env = {**os.environ, "QWENCHAT_HOME": str(tmp_path)}
    command = [str(QWENCHAT), "serve", "--host", "0.0.0.0", "--port", str(free_port()),
               "--auth", "none", "--model", "/nonexistent.gguf"]
    refused = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode != 0
    assert "allow_public_without_auth" in refused.stderr
    forced = subprocess.run(command, capture_output=True, text=True, timeout=60,
                            env={**env, "QWENCHAT_ALLOW_PUBLIC_WITHOUT_AUTH": "true"})
    assert "allow_public_without_auth" not in forced.stderr  # got past the check
    assert "without API keys" in forced.stderr  # and warned
