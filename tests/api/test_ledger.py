"""The usage ledger through a real server, on SQLite and on a real PostgreSQL: one row per
request with the tokens the client saw, refusals and errors recorded too (unauthenticated
ones counted, not one row each), and every completed response's row still there after
``kill -9``."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from harness.qwenchat import ServerProcess, create_key, sdk
from sqlalchemy import Engine, create_engine, select

from qwenchat.gateway.tables import refusals, usage

MESSAGES = [{"role": "user", "content": "Name a colour."}]


@pytest.fixture
def served(starter_model: Path, tmp_path: Path, database_url: str) -> Iterator[ServerProcess]:
    env = {**os.environ, "QWENCHAT_DATABASE_URL": database_url}
    with ServerProcess(["--model", str(starter_model), "--threads", "1"], tmp_path,
                       tmp_path / "server.log", env) as proc:
        yield proc


def ledger_rows(url: str) -> list[dict[str, Any]]:
    engine: Engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(usage).order_by(usage.c.id))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def refusal_counts(url: str) -> dict[tuple[int, str, str], int]:
    engine: Engine = create_engine(url)
    try:
        with engine.connect() as connection:
            counts: dict[tuple[int, str, str], int] = {}
            for row in connection.execute(select(refusals)):
                bucket = (row.status, row.error_code, row.model)
                counts[bucket] = counts.get(bucket, 0) + row.count
            return counts
    finally:
        engine.dispose()


def wait_for_refusals(url: str, total: int) -> dict[tuple[int, str, str], int]:
    """The refusal counts once they add up to ``total`` (written every few seconds)."""
    deadline = time.monotonic() + 60
    while sum((counts := refusal_counts(url)).values()) < total:
        assert time.monotonic() < deadline, counts
        time.sleep(0.2)
    return counts


def usage_of(reply: Any) -> tuple[int, int, int]:
    return (reply.usage.prompt_tokens, reply.usage.completion_tokens,
            reply.usage.prompt_tokens_details.cached_tokens)


def streamed(client: openai.OpenAI, **kwargs: Any) -> tuple[Any, str | None]:
    """The usage chunk and the finish reason of a streamed completion."""
    last_usage, finish = None, None
    for chunk in client.chat.completions.create(
            model="qwen-plus", messages=MESSAGES, stream=True,  # type: ignore[arg-type]
            stream_options={"include_usage": True}, **kwargs):
        if chunk.usage is not None:
            last_usage = chunk
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
    return last_usage, finish


def test_every_completed_response_survives_kill_9(served: ServerProcess,
                                                  database_url: str) -> None:
    seen: list[tuple[int, int, int, str | None]] = []
    with sdk(served.url) as client:
        for turn in range(6):
            if turn % 2:
                chunk, finish = streamed(client, max_tokens=4 + turn)
                seen.append((*usage_of(chunk), finish))
            else:
                reply = client.chat.completions.create(model="qwen-plus", messages=MESSAGES,
                                                       max_tokens=4 + turn)
                seen.append((*usage_of(reply), reply.choices[0].finish_reason))
    os.kill(served.process.pid, signal.SIGKILL)
    served.process.wait(10)
    rows = ledger_rows(database_url)
    assert [(r["prompt_tokens"], r["completion_tokens"], r["cached_tokens"],
             r["finish_reason"]) for r in rows] == seen
    assert [r["stream"] for r in rows] == [False, True] * 3
    assert all(r["status"] == 200 and r["error_code"] is None for r in rows)
    assert all(r["model"] == "qwen-plus" and r["deployment"].endswith(".gguf") for r in rows)
    assert all(r["duration_ms"] > 0 and r["ttft_ms"] is not None for r in rows)
    assert len({r["request_id"] for r in rows}) == 6


def test_errors_and_refusals_are_recorded_with_their_codes(served: ServerProcess,
                                                           database_url: str) -> None:
    home = served.log_path.parent
    secret = create_key(home, "ledgered", "--rpm", "1", "--models", "qwen-plus",
                        env={"QWENCHAT_DATABASE_URL": database_url})
    time.sleep(1.2)  # the server's key cache
    url = f"{served.url}/compatible-mode/v1/chat/completions"
    headers = {"Authorization": f"Bearer {secret}"}
    ok = httpx.post(url, headers=headers, timeout=60,
                    json={"model": "qwen-plus", "messages": MESSAGES, "max_tokens": 3})
    assert ok.status_code == 200
    attempts = [
        ({"Authorization": "Bearer sk-wrong"}, {"model": "qwen-plus"}, 401),
        (headers, {"model": "qwen-turbo"}, 403),
        (headers, {"model": "qwen-plus", "temperature": 3}, 400),
        (headers, {"model": "no-such-model"}, 404),
        (headers, {"model": "qwen-plus"}, 429),
    ]
    for attempt_headers, fields, status in attempts:
        reply = httpx.post(url, headers=attempt_headers, timeout=60,
                           json={"messages": MESSAGES, "max_tokens": 3, **fields})
        assert reply.status_code == status, reply.text
    rows = ledger_rows(database_url)
    assert [r["status"] for r in rows] == [200, 403, 400, 404, 429]
    assert [r["error_code"] for r in rows] == [
        None, "access_denied", "invalid_parameter_error", "model_not_found", "limit_requests"]
    assert [r["model"] for r in rows] == [
        "qwen-plus", "qwen-turbo", "qwen-plus", "no-such-model", "qwen-plus"]
    key_id = rows[0]["key_id"]
    assert key_id is not None
    assert [r["key_id"] for r in rows] == [key_id] * 5
    # the 401 is counted, not stored as a row of its own; its body is never read, so it
    # names no model
    assert wait_for_refusals(database_url, 1) == {(401, "invalid_api_key", ""): 1}
    assert rows[0]["prompt_tokens"] == ok.json()["usage"]["prompt_tokens"]
    assert all(r["prompt_tokens"] == r["completion_tokens"] == 0 for r in rows[1:])


def test_a_client_that_leaves_mid_stream_is_recorded_as_499_with_what_was_generated(
        served: ServerProcess, database_url: str) -> None:
    url = f"{served.url}/v1/chat/completions"
    body = {"model": "qwen-plus", "messages": MESSAGES, "max_tokens": 2000, "stream": True,
            "logit_bias": {"2": -100}}
    with httpx.stream("POST", url, json=body, timeout=60) as reply:
        lines = reply.iter_lines()
        chunks = [line for line in (next(lines) for _ in range(40)) if line]
    deadline = time.monotonic() + 20
    while not (rows := ledger_rows(database_url)):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert rows[0]["status"] == 499
    assert rows[0]["error_code"] == "client_closed_request"
    assert rows[0]["prompt_tokens"] > 0
    # the tokens streamed before the client left are counted (and charged), not dropped
    assert rows[0]["completion_tokens"] >= len(chunks) - 1


def test_a_flood_of_unauthenticated_requests_adds_a_bounded_number_of_rows(
        served: ServerProcess, database_url: str) -> None:
    home = served.log_path.parent
    create_key(home, "flooded", env={"QWENCHAT_DATABASE_URL": database_url})
    url = f"{served.url}/compatible-mode/v1/chat/completions"
    num_requests = 200
    with httpx.Client(timeout=60) as client:
        for n in range(num_requests):
            model = "qwen-plus" if n % 2 else f"junk-{n}"
            reply = client.post(url, headers={"Authorization": f"Bearer sk-guess-{n}"},
                                json={"model": model, "messages": MESSAGES})
            assert reply.status_code == 401
    counts = wait_for_refusals(database_url, num_requests)
    # the body of a request without a valid key is never read: whatever model it names,
    # every refusal shares one bucket, so junk cannot add rows or metric series
    assert counts == {(401, "invalid_api_key", ""): num_requests}
    assert ledger_rows(database_url) == []
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            num_rows = len(connection.execute(select(refusals.c.id)).all())
    finally:
        engine.dispose()
    # two buckets per minute, each written at most once every few seconds: far fewer rows
    # than requests however long the flood takes
    assert num_rows < num_requests // 4
