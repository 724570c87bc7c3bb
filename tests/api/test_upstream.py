"""A qwenchat gateway in front of real upstream replicas (two `qwenchat serve` processes,
DashScope dialect) beside its own local model: answers pass through unchanged and metered,
errors keep their meaning, replicas that hang or fail before the first byte pass the
request on, a killed replica costs no request that had not started on it, a recovered one
gets traffic again, and a client that leaves stops the upstream's generation."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from harness.process import free_port
from harness.qwenchat import ServerProcess, create_key, run_cli, sdk
from sqlalchemy import create_engine, select

from qwenchat.gateway.tables import usage as ledger

ASK: dict[str, Any] = {"model": "qwen-plus", "max_tokens": 12, "temperature": 0,
                       "messages": [{"role": "user", "content": "Name three colours."}]}
LONG: dict[str, Any] = {**ASK, "max_tokens": 3000, "logit_bias": {"2": -100}}


class Faulty:
    """A replica that passes health checks but fails chat requests: ``hang`` never answers,
    ``fail`` answers 500."""

    def __init__(self, mode: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # health checks pass
                self._answer(200, b'{"object":"list","data":[]}')

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if mode == "hang":
                    time.sleep(5)
                self._answer(500, b'{"error":{"message":"boom"}}')

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Cluster:
    """Two replicas, two faulty ones, and a gateway serving qwen-plus from the replicas,
    qwen3-max from the faulty ones then a replica, and every other id from its own model."""

    def __init__(self, model: Path, root: Path) -> None:
        self.model, self.root = model, root
        self.ports = [free_port(), free_port()]
        # the replicas share one keys database and require the gateway's key
        self.replica_env = {**os.environ,
                            "QWENCHAT_DATABASE_URL": f"sqlite:///{root / 'replicas.db'}"}
        self.upstream_key = create_key(root, "gateway", env=self.replica_env)
        self.replicas = [self._replica(i) for i in range(2)]
        self.faulty = [Faulty("hang"), Faulty("fail")]
        config = root / "gateway.toml"
        urls = ", ".join(f'"http://127.0.0.1:{p}/compatible-mode/v1"' for p in self.ports)
        flaky = ", ".join(f'"{u}"' for u in [f.url for f in self.faulty] + [
            f"http://127.0.0.1:{self.ports[1]}/compatible-mode/v1"])
        config.write_text(f'''
[engine]
model = "{model}"
context_size = 2048
[deployments.flaky]
dialect = "dashscope"
replicas = [{flaky}]
api_key_env = "POOL_KEY"
first_byte_timeout = 1
health_interval = 600
[deployments.flaky.models]
"qwen3-max" = "qwen-plus"
[deployments.pool]
dialect = "dashscope"
replicas = [{urls}]
api_key_env = "POOL_KEY"
health_interval = 0.5
first_byte_timeout = 30
[deployments.pool.models]
"qwen-plus" = "qwen-plus"
[deployments.dead]
replicas = ["http://127.0.0.1:{free_port()}/v1"]
connect_timeout = 1
[deployments.dead.models]
"qwen-turbo" = "qwen-turbo"
''')
        home = root / "gateway"
        home.mkdir()
        self.gateway = ServerProcess(["--config", str(config)], home, root / "gateway.log",
                                     {**os.environ, "POOL_KEY": self.upstream_key})

    def _replica(self, index: int) -> ServerProcess:
        home = self.root / f"replica{index}"
        home.mkdir(exist_ok=True)
        return ServerProcess(["--model", str(self.model), "--threads", "1",
                              "--context-size", "2048"], home,
                             home / f"replica-{time.monotonic_ns()}.log",
                             self.replica_env, port=self.ports[index])

    def restart(self, index: int) -> None:
        self.replicas[index] = self._replica(index)
        self.replicas[index].__enter__()

    def jobs(self, index: int) -> int:
        health = httpx.get(f"{self.replicas[index].url}/health").json()
        return int(sum(engine["jobs_total"] for engine in health["engines"].values()))

    def running(self) -> int:
        return sum(int(httpx.get(f"{r.url}/health").json()["running"])
                   for r in self.replicas)


@pytest.fixture(scope="module")
def cluster(starter_model: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Cluster]:
    cluster = Cluster(starter_model, tmp_path_factory.mktemp("upstream"))
    with cluster.replicas[0], cluster.replicas[1], cluster.gateway:
        yield cluster
    for replica in cluster.replicas:
        replica.stop()
    for faulty in cluster.faulty:
        faulty.close()


def test_answers_pass_through_unchanged_and_metered(cluster: Cluster) -> None:
    with sdk(cluster.replicas[0].url, api_key=cluster.upstream_key) as direct, \
            sdk(cluster.gateway.url) as gateway:
        expected = direct.chat.completions.create(**ASK)
        answer = gateway.chat.completions.create(**ASK)
        assert answer.choices[0].message.content == expected.choices[0].message.content
        assert answer.usage is not None and expected.usage is not None
        assert answer.usage.prompt_tokens == expected.usage.prompt_tokens
        assert answer.usage.completion_tokens == expected.usage.completion_tokens
        assert answer.model == "qwen-plus"
        chunks = list(gateway.chat.completions.create(**ASK, stream=True))
        assert all(chunk.usage is None for chunk in chunks)  # not asked for
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == expected.choices[0].message.content
        metered = list(gateway.chat.completions.create(
            **ASK, stream=True, stream_options={"include_usage": True}))
        assert metered[-1].choices == [] and metered[-1].usage is not None
        assert metered[-1].usage.completion_tokens == expected.usage.completion_tokens
        roots = {card.id: card.model_extra["root"] for card in gateway.models.list()
                 if card.model_extra}
        assert roots["qwen-plus"] == "pool:qwen-plus"
        assert roots["qwen-long"].endswith(".gguf")


def test_local_and_upstream_ids_are_served_side_by_side(cluster: Cluster) -> None:
    with sdk(cluster.gateway.url) as gateway:
        for model in ("qwen-long", "qwen-plus"):  # the gateway's own model, then a replica
            reply = gateway.chat.completions.create(**{**ASK, "model": model})
            assert reply.choices[0].message.content and reply.model == model


def test_replicas_that_hang_or_fail_before_the_first_byte_pass_the_request_on(
        cluster: Cluster) -> None:
    started = time.monotonic()
    with sdk(cluster.gateway.url) as gateway:
        reply = gateway.chat.completions.create(**{**ASK, "model": "qwen3-max"})
    assert reply.choices[0].message.content
    assert time.monotonic() - started < 10  # one first-byte timeout (1 s), one 500
    log = cluster.gateway.log_text()
    assert log.count("failed before the first byte") >= 2, log[-2000:]


def test_the_upstream_key_is_used_and_never_logged(cluster: Cluster) -> None:
    unkeyed = httpx.post(f"{cluster.replicas[1].url}/v1/chat/completions", json=ASK)
    assert unkeyed.status_code == 401  # the replicas do require it
    assert httpx.post(f"{cluster.gateway.url}/v1/chat/completions", json=ASK,
                      timeout=60).status_code == 200
    assert cluster.upstream_key not in cluster.gateway.log_text()
    printed = run_cli(cluster.root / "gateway", "serve", "--config",
                      str(cluster.root / "gateway.toml"), "--print-config").stdout
    assert "POOL_KEY" in printed and cluster.upstream_key not in printed


def test_upstream_refusals_keep_their_meaning(cluster: Cluster) -> None:
    too_long = {**ASK, "messages": [{"role": "user", "content": "word " * 3000}]}
    with sdk(cluster.gateway.url) as gateway:
        with pytest.raises(openai.BadRequestError) as caught:
            gateway.chat.completions.create(**too_long)
        assert "Range of input length" in str(caught.value)
        with pytest.raises(openai.InternalServerError) as unreachable:
            gateway.chat.completions.create(**{**ASK, "model": "qwen-turbo"})
    assert unreachable.value.status_code == 503
    assert isinstance(unreachable.value.body, dict)
    assert unreachable.value.body["code"] == "ModelUnavailable"


def test_a_client_that_leaves_stops_the_upstream_generation(cluster: Cluster) -> None:
    with httpx.stream("POST", f"{cluster.gateway.url}/v1/chat/completions",
                      json={**LONG, "stream": True}, timeout=60) as reply:
        lines = reply.iter_lines()
        for _ in range(6):
            next(lines)
        assert cluster.running() == 1
    deadline = time.monotonic() + 10
    while cluster.running():
        assert time.monotonic() < deadline, "the upstream kept generating"
        time.sleep(0.1)


def test_a_killed_replica_fails_only_what_it_was_serving_and_gets_traffic_once_back(
        cluster: Cluster) -> None:
    def ask(_: int) -> int:
        return httpx.post(f"{cluster.gateway.url}/v1/chat/completions",
                          json={**ASK, "max_tokens": 40}, timeout=60).status_code

    with ThreadPoolExecutor(6) as pool:
        load = pool.map(ask, range(30))
        deadline = time.monotonic() + 10
        while (in_flight := pool_status(cluster)[0]["in_flight"]) == 0:
            assert time.monotonic() < deadline, "replica 0 never got a request"
            time.sleep(0.01)
        os.kill(cluster.replicas[0].process.pid, signal.SIGKILL)
        statuses = list(load)
    cluster.replicas[0].process.wait(10)
    failed = [status for status in statuses if status != 200]
    # only requests already streaming from the killed replica may fail, and they fail as 503
    assert len(failed) <= in_flight + 1, (statuses, in_flight)
    assert set(failed) <= {503}
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(ask, range(16))) == [200] * 16
    assert [replica["up"] for replica in pool_status(cluster)] == [False, True]
    cluster.restart(0)
    time.sleep(1.5)  # two health checks
    assert [replica["up"] for replica in pool_status(cluster)] == [True, True]
    scraped = httpx.get(f"{cluster.gateway.url}/metrics").text
    assert scraped.count('qwenchat_upstream_replica_up{deployment="pool"') == 2
    assert 'qwenchat_upstream_replica_up{deployment="dead"' in scraped
    before = cluster.jobs(0)
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(ask, range(8))) == [200] * 8
    assert cluster.jobs(0) > before


def pool_status(cluster: Cluster) -> list[dict[str, Any]]:
    replicas: list[dict[str, Any]] = httpx.get(
        f"{cluster.gateway.url}/health").json()["upstreams"]["pool"]
    return replicas


def test_the_ledger_records_the_upstreams_counts(cluster: Cluster) -> None:
    reply = httpx.post(f"{cluster.gateway.url}/v1/chat/completions", json=ASK, timeout=60)
    usage = reply.json()["usage"]
    engine = create_engine(f"sqlite:///{cluster.root / 'gateway' / 'qwenchat.db'}")
    try:
        with engine.connect() as connection:
            row = connection.execute(select(ledger).order_by(ledger.c.id.desc())).first()
    finally:
        engine.dispose()
    assert row is not None
    assert row.deployment == "pool:qwen-plus" and row.status == 200
    assert (row.prompt_tokens, row.completion_tokens) == (usage["prompt_tokens"],
                                                          usage["completion_tokens"])


TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]


def test_tool_calls_come_back_in_dashscopes_shape_streamed_and_not(cluster: Cluster) -> None:
    forced: dict[str, Any] = {
        **ASK, "max_tokens": 60, "tools": TOOLS,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
    with sdk(cluster.replicas[1].url, api_key=cluster.upstream_key) as direct, \
            sdk(cluster.gateway.url) as gateway:
        expected = direct.chat.completions.create(**forced)
        answer = gateway.chat.completions.create(**forced)
        stream = list(gateway.chat.completions.create(**forced, stream=True))
    want = expected.choices[0].message.tool_calls
    got = answer.choices[0].message.tool_calls
    assert want and got and answer.choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, c.function.arguments) for c in got] == [
        (c.function.name, c.function.arguments) for c in want]
    deltas = [call for chunk in stream if chunk.choices
              for call in chunk.choices[0].delta.tool_calls or ()]
    assert deltas[0].id and deltas[0].function and deltas[0].function.name == "get_weather"
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert arguments == want[0].function.arguments
    assert {d.index for d in deltas} == {0}
    assert stream[-1].choices[0].finish_reason == "tool_calls"
