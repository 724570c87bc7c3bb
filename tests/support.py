"""Test helpers: a real `qwenchat serve` subprocess on a free port, and a TCP proxy that can
stall (a database that takes bytes and never answers)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai

QWENCHAT = Path(sys.executable).with_name("qwenchat")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`qwenchat serve` in a subprocess, logging to a file."""

    def __init__(self, args: list[str], home: Path, log_path: Path,
                 env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {**(os.environ if env is None else env), "QWENCHAT_HOME": str(home)}
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [str(QWENCHAT), "serve", "--port", str(self.port), *args],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready:\n{self.log_path.read_text()}")

    def __enter__(self) -> ServerProcess:
        """Wait until the server is ready (it is stopped if it never gets there)."""
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def sdk(url: str, api_key: str = "sk-test") -> openai.OpenAI:
    """The official SDK pointed at DashScope's compatible-mode path of a server at ``url``."""
    return openai.OpenAI(base_url=f"{url}/compatible-mode/v1", api_key=api_key, max_retries=0,
                         timeout=120)


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """``qwenchat ARGS`` with ``QWENCHAT_HOME=home``; raises if it fails and ``check``."""
    environ = {**os.environ, **(env or {}), "QWENCHAT_HOME": str(home)}
    result = subprocess.run([str(QWENCHAT), *args], capture_output=True, text=True,
                            env=environ, timeout=120)
    if check and result.returncode != 0:
        raise RuntimeError(f"qwenchat {' '.join(args)} failed:\n{result.stderr}")
    return result


def create_key(home: Path, name: str, *options: str, env: dict[str, str] | None = None) -> str:
    """A new API key's secret, made with ``qwenchat keys create``."""
    return run_cli(home, "keys", "create", "--name", name, *options, env=env).stdout.strip()


def upstream_gateway(home: Path, dialect: str, replica_url: str,
                     models: dict[str, str]) -> ServerProcess:
    """A `qwenchat serve` with no local model, serving ``models`` (served id -> upstream
    name) from one upstream replica of ``dialect`` (enter it to start)."""
    config = home / "qwenchat.toml"
    mapping = "\n".join(f'"{model_id}" = "{name}"' for model_id, name in models.items())
    config.write_text(f'[engine]\nmodel = "none"\n[deployments.up]\ndialect = "{dialect}"\n'
                      f'replicas = ["{replica_url}"]\n[deployments.up.models]\n{mapping}\n')
    return ServerProcess(["--config", str(config)], home, home / "gateway.log")


def open_socket(port: int) -> socket.socket:
    """A raw TCP connection to a local server, for clients no HTTP library imitates."""
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def read_until_closed(sock: socket.socket, timeout: float = 30.0) -> bytes:
    """Everything the server sends on ``sock`` until it closes it (raises if it has not
    closed it within ``timeout`` seconds)."""
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data
    raise AssertionError(f"the server kept the connection open; it sent {received[:300]!r}")


def http_answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of a raw HTTP/1.1 answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    pairs = [line.split(": ", 1) for line in lines[1:] if ": " in line]
    headers = {name.lower(): value for name, value in pairs}
    return int(lines[0].split()[1]), headers, body


def read_answer(sock: socket.socket, timeout: float = 30.0) -> bytes:
    """One whole HTTP answer with a ``Content-Length`` from ``sock`` (the connection may stay
    open)."""
    received = b""
    sock.settimeout(timeout)
    while b"\r\n\r\n" not in received or len(received) < _answer_length(received):
        data = sock.recv(65536)
        if not data:
            break
        received += data
    return received


def _answer_length(received: bytes) -> int:
    head, _, _ = received.partition(b"\r\n\r\n")
    _, headers, _ = http_answer(received)
    return len(head) + 4 + int(headers.get("content-length", "0"))


class StallingProxy:
    """A TCP proxy from a free port of 127.0.0.1 to ``target_port``, on its own thread.

    :meth:`stall` blackholes it: it keeps accepting connections and reading their bytes but
    forwards nothing either way and answers nothing, as a database behind a dead link
    would; :meth:`heal` lets everything held and everything new through again.
    """

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target = target_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._flowing = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> StallingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def stall(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def heal(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.set)

    async def _start(self) -> None:
        self._flowing.set()
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._flowing.set()  # connections end by being closed, not cancelled
        for writer in self._writers:
            writer.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        await asyncio.gather(*(writer.wait_closed() for writer in self._writers),
                             return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _connect(self, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._flowing.wait()
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self._target)
        except OSError:
            writer.close()
            return
        self._writers.add(upstream_writer)
        await asyncio.gather(self._pipe(reader, upstream_writer),
                             self._pipe(upstream_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                writer.close()
