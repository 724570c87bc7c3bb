"""A run's fresh server: its home (settings, environment, database, key), the process (the
scripted server, or `qwenchat serve` for the engine), and the database servers beside it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import redis
from harness.process import ServiceProcess, answers
from harness.services import PostgresServer, RedisServer

from bench.common.cpu import children
from bench.common.keys import UNLIMITED_RPM, UNLIMITED_TPM, ledger_rows, make_key
from bench.gateway_bench.setups import MODEL, Setup
from qwenchat.settings import Settings

GATEWAY_SCRIPT = Path(__file__).resolve().parents[1] / "gateway.py"



@dataclass
class Services:
    """The database servers shared by every run (started only when a setup needs them)."""

    postgres: PostgresServer | None = None
    redis: RedisServer | None = None

    def database_pids(self, setup: Setup) -> list[int]:
        pids: list[int] = []
        if setup.ledger == "postgres" and self.postgres and self.postgres.process:
            pids += children(self.postgres.process.pid)
        if setup.redis and self.redis and self.redis.process:
            pids.append(self.redis.process.pid)
        return pids


def write_config(setup: Setup, home: Path) -> Path:
    """The TOML settings of ``setup``: model-wide limits when limits are on."""
    path = home / "qwenchat.toml"
    lines = ['[server]', 'log_level = "warning"  # no access log line per request', '']
    if setup.limits:
        lines += [f'[models."{MODEL}"]', f"rpm = {UNLIMITED_RPM}", f"tpm = {UNLIMITED_TPM}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def server_env(setup: Setup, home: Path, model: Path, services: Services) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QWENCHAT_")}
    env |= {"QWENCHAT_HOME": str(home), "QWENCHAT_MODEL": str(model),
            "QWENCHAT_AUTH": "required" if setup.auth else "none"}
    if setup.ledger == "postgres":
        assert services.postgres is not None
        env["QWENCHAT_DATABASE_URL"] = services.postgres.create_database()
    if setup.redis:
        assert services.redis is not None
        with redis.Redis.from_url(services.redis.url) as client:
            client.flushdb()
        env["QWENCHAT_REDIS_URL"] = services.redis.url
    return env


@dataclass(frozen=True)
class Prepared:
    """A fresh server's home: environment, settings, database and key."""

    env: dict[str, str]
    config: Path
    database_url: str
    secret: str


def prepare(setup: Setup, home: Path, model: Path, services: Services) -> Prepared:
    home.mkdir(parents=True)
    env = server_env(setup, home, model, services)
    config = write_config(setup, home)
    database_url = Settings.load(config, env=env).database_url()
    secret = make_key(database_url, setup.limits) if setup.auth else "sk-unused"
    return Prepared(env, config, database_url, secret)


def check_ledger(setup: Setup, database_url: str, expected: int) -> None:
    """An ``on`` run's ledger holds one row per request."""
    if setup.ledger:
        rows = ledger_rows(database_url)
        if rows != expected:
            raise RuntimeError(f"{setup.name}: {rows} ledger rows for {expected} requests")


class Server(ServiceProcess):
    """The server of ``setup`` on a free port, logging to ``home``/server.log: this
    benchmark's scripted server (`gateway.py serve`), or `qwenchat serve` for the engine.
    ``count_commits`` (scripted servers with a ledger): :meth:`commits` answers."""

    ready_timeout = 120.0
    poll_interval = 0.1
    stop_timeout = 30.0

    def __init__(self, setup: Setup, home: Path, env: dict[str, str], config: Path,
                 count_commits: bool = False) -> None:
        self.name = setup.name
        super().__init__(workdir=home, log_path=home / "server.log")
        self.root = f"http://127.0.0.1:{self.port}"
        self.replies: IO[bytes] | None = None  # the commit counts' pipe, read end
        self._setup, self._env, self._config = setup, env, config
        self._count_commits = count_commits and bool(setup.ledger) and not setup.engine

    def start(self) -> None:
        if self._setup.engine:
            command = [str(Path(sys.executable).with_name("qwenchat")), "serve"]
        else:
            command = [sys.executable, str(GATEWAY_SCRIPT), "serve",
                       "--config-name", self._setup.name]
        command += ["--port", str(self.port), "--config", str(self._config)]
        if not self._count_commits:
            self.spawn(command, env=self._env)
            return
        read_end, write_end = os.pipe()
        self.replies = open(read_end, "rb")  # noqa: SIM115 - closed by stop
        try:
            self.spawn([*command, "--commits-fd", str(write_end)], env=self._env,
                       stdin=subprocess.PIPE, pass_fds=(write_end,))
        finally:  # the server's copy is enough: EOF here if it dies
            os.close(write_end)

    def ping(self) -> bool:
        return answers(f"{self.root}/health")

    def commits(self) -> int | None:
        """The ledger's commits so far (None without a ledger or the pipe)."""
        if self.replies is None or self.process is None or self.process.stdin is None:
            return None
        self.process.stdin.write(b"?\n")
        self.process.stdin.flush()
        line = self.replies.readline()
        if not line:
            raise RuntimeError("the server did not answer the commit count")
        return int(line)

    def stop(self, sig: int | None = None) -> int | None:
        if self.process is not None and self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            return super().stop(sig)
        finally:
            if self.replies is not None:
                self.replies.close()


@contextlib.contextmanager
def running(setup: Setup, home: Path, env: dict[str, str], config: Path,
            count_commits: bool = False) -> Iterator[Server]:
    """The server of ``setup``, ready; stopped afterwards (its log's end printed if the run
    fails)."""
    server = Server(setup, home, env, config, count_commits)
    try:
        with server:
            yield server
    except BaseException:
        print(f"  server log {server.log_path}:\n{server.log_text()[-3000:]}")
        raise
