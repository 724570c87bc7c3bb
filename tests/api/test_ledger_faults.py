"""The usage ledger under faults, through a real server on a real PostgreSQL: the database
stopped, the database blackholed (a proxy that takes bytes and never answers) under load,
and the server killed with SIGKILL mid-stream while rows wait in its journal. Afterwards
every completed request has exactly one row.

The bounds under test (docs/gateway.md): a completed response waits at most 2 s for its
row's commit, a key lookup at most 2 s. The blackhole lasts 60 s under load
(``QWENCHAT_TEST_STALL_SECONDS`` shortens it for a quick local run).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from harness.proxy import StallingProxy
from harness.qwenchat import ServerProcess, create_key, sdk
from harness.services import PostgresServer
from sqlalchemy import create_engine, select

from qwenchat.gateway.tables import usage

MESSAGES = [{"role": "user", "content": "Name a colour."}]
STALL_SECONDS = float(os.environ.get("QWENCHAT_TEST_STALL_SECONDS", "60"))
# A response waits at most 2 s for the ledger and 2 s for a key lookup; the rest is
# generation on a busy two-core machine: a generous bound for "never stalls".
RESPONSE_BOUND = 60.0


def request_ids(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(usage.c.request_id)).scalars())
    finally:
        engine.dispose()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not true after {timeout} s: {what}"
        time.sleep(0.2)


def complete(client: openai.OpenAI, stream: bool = False) -> str:
    """One completed request through the SDK; its request id."""
    if stream:
        with client.chat.completions.with_streaming_response.create(
                model="qwen-plus", messages=MESSAGES, max_tokens=3,  # type: ignore[arg-type]
                stream=True) as response:
            chunks = [line for line in response.iter_lines() if line]
            assert chunks[-1] == "data: [DONE]", chunks
            return str(response.headers["x-request-id"])
    raw = client.chat.completions.with_raw_response.create(
        model="qwen-plus", messages=MESSAGES, max_tokens=3)  # type: ignore[arg-type]
    assert raw.parse().choices[0].finish_reason in ("stop", "length")
    return str(raw.headers["x-request-id"])


def served(home: Path, model: Path, database_url: str) -> ServerProcess:
    env = {**os.environ, "QWENCHAT_DATABASE_URL": database_url}
    return ServerProcess(["--model", str(model), "--threads", "1"], home,
                         home / f"server-{uuid.uuid4().hex[:6]}.log", env)


def assert_one_row_each(url: str, completed: list[str]) -> None:
    wait_until(lambda: set(completed) <= set(request_ids(url)), "every completed row")
    rows = request_ids(url)
    assert len(rows) == len(set(rows)), "a request has two rows"


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, to stop and start again."""
    with PostgresServer() as server:
        yield server


def test_requests_completed_while_postgresql_is_stopped_get_their_rows_when_it_returns(
        starter_model: Path, tmp_path: Path, own_postgres: PostgresServer) -> None:
    url = own_postgres.create_database("ledger")
    with served(tmp_path, starter_model, url) as server, sdk(server.url) as client:
        completed = [complete(client)]
        own_postgres.halt()
        for turn in range(4):
            completed.append(complete(client, stream=bool(turn % 2)))
        assert (tmp_path / "ledger-journal.jsonl").is_file()
        own_postgres.resume()
        completed.append(complete(client))
        assert_one_row_each(url, completed)
        wait_until(lambda: not (tmp_path / "ledger-journal.jsonl").exists()
                   and not (tmp_path / "ledger-journal.jsonl.replaying").exists(),
                   "the journal replayed and removed")


class Load:
    """Clients completing requests on threads until stopped; what they saw."""

    def __init__(self, base_url: str, api_key: str, num_clients: int = 2) -> None:
        self.completed: list[str] = []
        self.slowest = 0.0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(base_url, api_key, n))
                         for n in range(num_clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(RESPONSE_BOUND * 2)

    def _run(self, base_url: str, api_key: str, n: int) -> None:
        with sdk(base_url, api_key) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self.completed.append(complete(client, stream=bool(n % 2)))
                except Exception as exc:  # reported by the test
                    self.errors.append(exc)
                self.slowest = max(self.slowest, time.monotonic() - started)


def test_a_blackholed_postgresql_stalls_no_response_and_loses_no_row(
        starter_model: Path, tmp_path: Path, postgres_server: PostgresServer) -> None:
    name = f"stall_{uuid.uuid4().hex[:8]}"
    direct_url = postgres_server.create_database(name)
    with StallingProxy(postgres_server.port) as proxy:
        url = postgres_server.url(name).replace(f":{postgres_server.port}/",
                                                f":{proxy.port}/")
        env = {"QWENCHAT_DATABASE_URL": direct_url}
        secret = create_key(tmp_path, "known", env=env)
        unseen = create_key(tmp_path, "unseen", env=env)
        with served(tmp_path, starter_model, url) as server:
            with sdk(server.url, secret) as client:
                completed = [complete(client)]  # the key is known (cached) from here on
            with Load(server.url, secret) as load:
                wait_until(lambda: len(load.completed) >= 2, "requests under load")
                proxy.stall()
                stalled_at = len(load.completed)
                deadline = time.monotonic() + STALL_SECONDS
                # a key the server never saw cannot be checked: 503, not a hang
                refused = httpx.post(
                    f"{server.url}/compatible-mode/v1/chat/completions",
                    headers={"Authorization": f"Bearer {unseen}"}, timeout=RESPONSE_BOUND,
                    json={"model": "qwen-plus", "messages": MESSAGES, "max_tokens": 3})
                assert refused.status_code == 503, refused.text
                assert refused.json()["error"]["code"] == "ModelUnavailable"
                wait_until(lambda: time.monotonic() > deadline, "the stall's end",
                           timeout=STALL_SECONDS + 5)
                answered_while_stalled = len(load.completed) - stalled_at
                proxy.heal()
            assert not load.errors, load.errors
            assert answered_while_stalled >= 2
            assert load.slowest < RESPONSE_BOUND
            completed += load.completed
            assert_one_row_each(direct_url, completed)


def test_rows_journalled_before_a_sigkill_are_committed_at_the_next_start(
        starter_model: Path, tmp_path: Path, postgres_server: PostgresServer) -> None:
    name = f"killed_{uuid.uuid4().hex[:8]}"
    direct_url = postgres_server.create_database(name)
    with StallingProxy(postgres_server.port) as proxy:
        url = postgres_server.url(name).replace(f":{postgres_server.port}/",
                                                f":{proxy.port}/")
        server = served(tmp_path, starter_model, url)
        with server, sdk(server.url) as client:
            completed = [complete(client)]
            proxy.stall()
            completed += [complete(client), complete(client, stream=True)]
            body: dict[str, Any] = {"model": "qwen-plus", "messages": MESSAGES,
                                    "max_tokens": 2000, "stream": True,
                                    "logit_bias": {"2": -100}}
            with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body,
                              timeout=RESPONSE_BOUND) as reply:
                interrupted = reply.headers["x-request-id"]
                lines = reply.iter_lines()
                for _ in range(10):
                    next(lines)
                os.kill(server.process.pid, signal.SIGKILL)
                server.process.wait(30)
        proxy.heal()
        assert (tmp_path / "ledger-journal.jsonl").is_file()
        with served(tmp_path, starter_model, url):
            assert_one_row_each(direct_url, completed)
    # The interrupted request never completed: no row was committed or journalled for it
    # (its client saw no finish chunk and no [DONE]).
    assert interrupted not in request_ids(direct_url)
