"""DashScope rate limits and quotas through real servers and the official SDK: RPM and TPM
trip at exactly their counts and recover after Retry-After, model-wide limits span keys,
quotas run out and stay spent across a restart, and two gateways on one Redis share
every limit."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from harness.qwenchat import ServerProcess, create_key, run_cli, sdk
from harness.services import RedisServer

ASK = {"model": "qwen-plus", "max_tokens": 3,
       "messages": [{"role": "user", "content": "Say hi."}]}
SPACING = 1.05  # seconds between requests, so the per-second windows never bind


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("limits")
    (home / "qwenchat.toml").write_text('[models."qwen-turbo"]\nrpm = 60\n')
    return home


@pytest.fixture(scope="module")
def limited(starter_model: Path, home: Path) -> Iterator[ServerProcess]:
    with ServerProcess(["--model", str(starter_model), "--threads", "1",
                        "--config", str(home / "qwenchat.toml")], home,
                       home / "server.log") as proc:
        yield proc


def post(url: str, secret: str, model: str = "qwen-plus") -> httpx.Response:
    return httpx.post(f"{url}/compatible-mode/v1/chat/completions",
                      json={**ASK, "model": model},
                      headers={"Authorization": f"Bearer {secret}"}, timeout=60)


def refused_with(reply: httpx.Response, code: str) -> float:
    """Check a 429 with ``code``; the wait it asks for, in seconds."""
    assert reply.status_code == 429, reply.text
    assert reply.json()["error"]["code"] == code
    seconds = int(reply.headers["retry-after"])
    millis = int(reply.headers["retry-after-ms"])
    assert seconds == max(1, -(-millis // 1000))
    return millis / 1000


def test_rpm_trips_at_exactly_its_count_and_recovers_after_retry_after(
        limited: ServerProcess, home: Path) -> None:
    secret = create_key(home, "rpm2", "--rpm", "2")
    assert post(limited.url, secret).status_code == 200
    time.sleep(SPACING)
    assert post(limited.url, secret).status_code == 200
    wait = refused_with(post(limited.url, secret), "limit_requests")
    assert 55 < wait <= 60  # until the first request leaves the minute window
    assert post(limited.url, secret, model="qwen-turbo").status_code == 200  # per model
    time.sleep(wait)
    assert post(limited.url, secret).status_code == 200


def test_per_second_share_throttles_bursts_and_the_sdk_retry_gets_in(
        limited: ServerProcess, home: Path) -> None:
    secret = create_key(home, "rpm60", "--rpm", "60")  # 1 per second
    assert post(limited.url, secret).status_code == 200
    wait = refused_with(post(limited.url, secret), "limit_requests")
    assert 0 < wait <= 1.1
    with sdk(limited.url, api_key=secret) as client:
        retrying = client.with_options(max_retries=1)  # honours retry-after-ms
        reply = retrying.chat.completions.create(**ASK)  # type: ignore[call-overload]
    assert reply.choices


def test_tpm_admits_while_the_minute_holds_less_than_the_limit(
        limited: ServerProcess, home: Path) -> None:
    tpm = 60
    secret = create_key(home, "tpm", "--tpm", str(tpm))
    used, admitted = 0, 0
    while used < tpm:
        reply = post(limited.url, secret)
        assert reply.status_code == 200, (used, reply.text)
        used += reply.json()["usage"]["total_tokens"]
        admitted += 1
        time.sleep(SPACING + 0.5)  # completion tokens are charged when the answer ends
    assert admitted >= 2
    wait = refused_with(post(limited.url, secret), "insufficient_quota")
    assert wait > 50


def test_tpm_per_second_share_recovers_after_retry_after(limited: ServerProcess,
                                                         home: Path) -> None:
    secret = create_key(home, "tpm600", "--tpm", "600")  # 10 tokens per second
    first = post(limited.url, secret)
    assert first.status_code == 200
    assert first.json()["usage"]["total_tokens"] >= 10
    wait = refused_with(post(limited.url, secret), "insufficient_quota")
    assert 0 < wait <= 1.1
    time.sleep(wait)
    assert post(limited.url, secret).status_code == 200


def test_model_wide_limit_is_shared_by_all_keys(limited: ServerProcess, home: Path) -> None:
    first, second = create_key(home, "wide-a"), create_key(home, "wide-b")
    time.sleep(SPACING)  # the rpm tests above used qwen-turbo a second ago
    assert post(limited.url, first, model="qwen-turbo").status_code == 200
    refused_with(post(limited.url, second, model="qwen-turbo"), "limit_requests")
    assert post(limited.url, second, model="qwen-plus").status_code == 200


def test_quota_runs_out_and_stays_spent_after_a_restart(starter_model: Path,
                                                       tmp_path: Path) -> None:
    secret = create_key(tmp_path, "quota", "--quota-tokens", "40")
    args = ["--model", str(starter_model), "--threads", "1"]
    with ServerProcess(args, tmp_path, tmp_path / "server.log") as proc:
        used = 0
        while used < 40:
            reply = post(proc.url, secret)
            assert reply.status_code == 200
            used += reply.json()["usage"]["total_tokens"]
        spent = post(proc.url, secret)
        assert spent.status_code == 429
        assert spent.json()["error"]["code"] == "insufficient_quota"
        assert "retry-after" not in spent.headers  # waiting will not help
    with ServerProcess(args, tmp_path, tmp_path / "server2.log") as proc:
        assert post(proc.url, secret).status_code == 429
    report = json.loads(run_cli(tmp_path, "usage", "--json").stdout)
    quota = next(q for q in report["quotas"] if q["key_name"] == "quota")
    assert (quota["used_tokens"], quota["remaining_tokens"]) == (used, 0)


def test_leaving_a_stream_early_does_not_escape_the_quota(limited: ServerProcess,
                                                          home: Path) -> None:
    secret = create_key(home, "leaver", "--quota-tokens", "50")
    body = {**ASK, "max_tokens": 2000, "stream": True, "logit_bias": {"2": -100}}
    with httpx.stream("POST", f"{limited.url}/v1/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {secret}"}) as reply:
        lines = reply.iter_lines()
        for _ in range(80):  # ~40 content chunks: with the prompt, past the quota
            next(lines)
    deadline = time.monotonic() + 20
    while not any(row["errors"] for row in usage_rows(home, "leaver")):  # the 499 row
        assert time.monotonic() < deadline, "the abandoned stream was never recorded"
        time.sleep(0.2)
    spent = post(limited.url, secret)
    assert spent.status_code == 429
    assert spent.json()["error"]["code"] == "insufficient_quota"


def usage_rows(home: Path, key: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(run_cli(home, "usage", "--json",
                                                    "--key", key).stdout)["usage"]
    return rows


@pytest.fixture(scope="module")
def two_gateways(starter_model: Path, redis_server: RedisServer,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    """Two servers sharing one database and one Redis."""
    home = tmp_path_factory.mktemp("shared")
    env = {**os.environ, "QWENCHAT_REDIS_URL": redis_server.url}
    args = ["--model", str(starter_model), "--threads", "1"]
    with ServerProcess(args, home, home / "a.log", env) as first, \
            ServerProcess(args, home, home / "b.log", env) as second:
        yield [first, second]


def test_rpm_counts_requests_of_both_gateways(two_gateways: list[ServerProcess]) -> None:
    home = two_gateways[0].log_path.parent
    secret = create_key(home, "shared-rpm", "--rpm", "4")
    time.sleep(1.2)  # the servers' key caches
    for turn in range(4):
        assert post(two_gateways[turn % 2].url, secret).status_code == 200
        time.sleep(SPACING)
    for proc in two_gateways:
        refused_with(post(proc.url, secret), "limit_requests")


def test_a_concurrent_burst_on_both_gateways_admits_exactly_the_limit(
        two_gateways: list[ServerProcess]) -> None:
    home = two_gateways[0].log_path.parent
    secret = create_key(home, "shared-burst", "--rpm", "1")
    time.sleep(1.2)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:
            replies = await asyncio.gather(*(
                client.post(f"{two_gateways[i % 2].url}/v1/chat/completions", json=ASK,
                            headers={"Authorization": f"Bearer {secret}"})
                for i in range(20)))
        return [reply.status_code for reply in replies]

    statuses = asyncio.run(burst())
    assert sorted(statuses) == [200] + [429] * 19


def test_refusals_surface_in_the_sdk_as_rate_limit_errors(limited: ServerProcess,
                                                          home: Path) -> None:
    secret = create_key(home, "sdk", "--rpm", "1")
    with sdk(limited.url, api_key=secret) as client:
        client.chat.completions.create(**ASK)  # type: ignore[call-overload]
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(**ASK)  # type: ignore[call-overload]
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "limit_requests"
    rejections = [line for line in httpx.get(f"{limited.url}/metrics").text.splitlines()
                  if line.startswith("qwenchat_rate_limit_rejections_total{")]
    assert any('code="limit_requests"' in line and not line.endswith(" 0.0")
               for line in rejections), rejections
